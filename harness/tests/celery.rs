//! The Celery remote-control client and the celery checks against real Celery workers (the
//! stand-in api image in MODE=worker, Dify's entrypoint contract) on a real Redis broker with a
//! password: ping, active queues, a queue no worker consumes, queue lengths, a wrong password.
//!
//! Everything started here carries the harness's labels (a killed test is reaped like a killed
//! run) and is swept by label at the end, whether the test passed or not.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use harness::engine::Engine;
use harness::labels;
use suites::clients::celery_control;
use suites::{BrokerUrl, ExpectedQueues, Outcome, Status, Suite, Target};
use testcontainers::bollard::Docker;
use testcontainers::bollard::models::NetworkCreateRequest;
use testcontainers::core::{CmdWaitFor, ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::time::Instant;

const PASSWORD: &str = "conformance-broker-pw";
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// A worker boots in seconds; its start-up probes wait for the database, which may take longer
/// on a loaded host.
const WORKERS_DEADLINE: Duration = Duration::from_secs(180);

/// Runs `body` with a fresh run id, then removes everything labelled with it, and checks that
/// nothing is left, also when `body` panicked.
async fn labelled_run<F, Fut>(engine: &Engine, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let run_id = format!("test-celery-{}", uuid::Uuid::new_v4().simple());
    let result = AssertUnwindSafe(body(run_id.clone())).catch_unwind().await;
    engine.sweep(labels::RUN, &run_id).await;
    let left = engine.managed_runs().await.unwrap();
    assert!(
        !left.contains_key(&run_id),
        "objects labelled {}={run_id} were left behind",
        labels::RUN
    );
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// A user-defined network (containers find each other by name), labelled for the sweep.
async fn network(run_id: &str) -> String {
    let docker = Docker::connect_with_local_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let name = format!("{run_id}-net");
    docker
        .create_network(NetworkCreateRequest {
            name: name.clone(),
            labels: Some(
                labels::for_cell(run_id, "celery-control")
                    .into_iter()
                    .collect(),
            ),
            ..Default::default()
        })
        .await
        .unwrap();
    name
}

/// Redis with a password, as Dify's compose runs it (`--requirepass`).
async fn redis(run_id: &str, net: &str) -> ContainerAsync<GenericImage> {
    GenericImage::new("dify-conformance/redis", "local")
        .with_exposed_port(6379.tcp())
        .with_wait_for(WaitFor::message_on_stdout("Ready to accept connections"))
        .with_cmd(["redis-server", "--requirepass", PASSWORD])
        .with_network(net)
        .with_container_name(format!("{run_id}-redis"))
        .with_labels(labels::for_cell(run_id, "celery-control"))
        .start()
        .await
        .expect("redis starts")
}

/// What the stand-in worker connects to at start-up, as Dify's worker does: its database (here
/// pgvector, which also serves as the vector store for images that still probe one at boot).
async fn database(run_id: &str, net: &str) -> ContainerAsync<GenericImage> {
    GenericImage::new("dify-conformance/pgvector", "local")
        .with_env_var("POSTGRES_PASSWORD", PASSWORD)
        .with_env_var("POSTGRES_DB", "dify")
        .with_network(net)
        .with_container_name(format!("{run_id}-db"))
        .with_labels(labels::for_cell(run_id, "celery-control"))
        .start()
        .await
        .expect("the database container starts")
}

/// A Celery worker of the stand-in api image, node name `celery@<hostname>`, consuming
/// `queues` through Dify's `CELERY_WORKER_QUEUES`.
async fn worker(
    run_id: &str,
    net: &str,
    hostname: &str,
    queues: &str,
) -> ContainerAsync<GenericImage> {
    let db = format!("{run_id}-db");
    GenericImage::new("dify-conformance/standin-api", "local")
        .with_env_var("MODE", "worker")
        .with_env_var(
            "CELERY_BROKER_URL",
            format!("redis://:{PASSWORD}@{run_id}-redis:6379/1"),
        )
        .with_env_var("CELERY_WORKER_QUEUES", queues)
        .with_env_var("REDIS_HOST", format!("{run_id}-redis"))
        .with_env_var("REDIS_PASSWORD", PASSWORD)
        .with_env_var("DB_HOST", &db)
        .with_env_var("DB_PASSWORD", PASSWORD)
        .with_env_var("DB_DATABASE", "dify")
        .with_env_var("STORAGE_TYPE", "opendal")
        .with_env_var("VECTOR_STORE", "pgvector")
        .with_env_var("PGVECTOR_HOST", &db)
        .with_env_var("PGVECTOR_PASSWORD", PASSWORD)
        .with_env_var("PGVECTOR_DATABASE", "dify")
        .with_env_var("STANDIN_CONNECT_TIMEOUT", "150")
        .with_hostname(hostname)
        .with_network(net)
        .with_container_name(format!("{run_id}-{hostname}"))
        .with_labels(labels::for_cell(run_id, "celery-control"))
        .start()
        .await
        .expect("the worker container starts")
}

async fn broker_url(redis: &ContainerAsync<GenericImage>, password: &str) -> BrokerUrl {
    let port = redis.get_host_port_ipv4(6379).await.unwrap();
    BrokerUrl::parse(&format!("redis://:{password}@127.0.0.1:{port}/1")).unwrap()
}

/// Pings until every worker in `nodes` has answered, or panics at the deadline with what did.
async fn wait_for_workers(broker: &BrokerUrl, nodes: &[&str]) {
    let deadline = Instant::now() + WORKERS_DEADLINE;
    let mut seen = BTreeSet::new();
    while Instant::now() < deadline {
        if let Ok(replies) = celery_control::ping(broker, REPLY_TIMEOUT).await {
            seen.extend(replies.into_iter().map(|r| r.worker));
        }
        if nodes.iter().all(|n| seen.contains(*n)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("workers {nodes:?} did not all answer ping within {WORKERS_DEADLINE:?}; seen {seen:?}");
}

async fn celery_outcome(target: &Target, id: &str) -> Outcome {
    suites::run_suites(target, &[Suite::Celery])
        .await
        .outcomes
        .into_iter()
        .find(|o| o.check == id)
        .unwrap_or_else(|| panic!("the celery suite has no {id}"))
}

fn list(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn remote_control_reaches_real_workers_and_finds_a_missing_queue() {
    let Some(engine) = common::engine_or_skip("celery remote control").await else {
        return;
    };
    labelled_run(&engine, |run_id| async move {
        let net = network(&run_id).await;
        let redis = redis(&run_id, &net).await;
        let _db = database(&run_id, &net).await;
        // Two workers sharing Dify's indexing queues between them, as a Kubernetes split does.
        let a = worker(&run_id, &net, "worker-a", "dataset,mail").await;
        let _b = worker(&run_id, &net, "worker-b", "priority_dataset").await;
        let broker = broker_url(&redis, PASSWORD).await;
        wait_for_workers(&broker, &["celery@worker-a", "celery@worker-b"]).await;

        // ping: each worker answers pong.
        let mut pongs: Vec<(String, serde_json::Value)> =
            celery_control::ping(&broker, REPLY_TIMEOUT)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.worker, r.answer))
                .collect();
        pongs.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(
            pongs,
            [
                (
                    "celery@worker-a".to_string(),
                    serde_json::json!({"ok": "pong"})
                ),
                (
                    "celery@worker-b".to_string(),
                    serde_json::json!({"ok": "pong"})
                ),
            ]
        );

        // active_queues: each worker names exactly the queues it was started with.
        let replies = celery_control::active_queues(&broker, REPLY_TIMEOUT)
            .await
            .unwrap();
        let by_worker: HashMap<String, BTreeSet<String>> = replies
            .iter()
            .map(|r| {
                let names = celery_control::queue_names(&r.answer)
                    .unwrap_or_else(|e| panic!("{}: {e}", r.worker));
                (r.worker.clone(), names.into_iter().collect())
            })
            .collect();
        assert_eq!(
            by_worker["celery@worker-a"],
            BTreeSet::from(["dataset".to_string(), "mail".to_string()])
        );
        assert_eq!(
            by_worker["celery@worker-b"],
            BTreeSet::from(["priority_dataset".to_string()])
        );

        let target = Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_broker(broker.clone());

        // Unknown release: the indexing queues are judged, and the two workers cover them.
        let o = celery_outcome(&target, "celery.queues").await;
        assert_eq!(o.status, Status::Passed, "{o}");

        // A release whose api publishes to a queue no worker consumes: named, with the workers.
        let facts = ExpectedQueues {
            release: "test".into(),
            self_hosted: list(&[
                "dataset",
                "priority_dataset",
                "workflow_based_app_execution",
            ]),
            cloud: list(&["dataset"]),
            source: "this test".into(),
        };
        let o = celery_outcome(&target.clone().with_expected_queues(facts), "celery.queues").await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert_eq!(
            o.got, "1 queue(s) the api publishes to have no consumer: workflow_based_app_execution",
            "{o}"
        );
        let missing: Vec<&String> = o
            .evidence
            .iter()
            .filter(|l| l.starts_with("missing queue"))
            .collect();
        assert_eq!(missing.len(), 1, "{o}");
        assert!(
            missing[0].starts_with(
                "missing queue `workflow_based_app_execution`: not consumed by celery@worker-"
            ),
            "{o}"
        );
        assert!(
            missing[0].contains("celery@worker-a") && missing[0].contains("celery@worker-b"),
            "{o}"
        );

        // Backlog: a real Celery producer (kombu, in the worker image) sends four tasks with
        // priorities to a queue nobody consumes; kombu spreads them over the priority lists and
        // the client adds them up again.
        let mut sent = a
            .exec(
                ExecCommand::new([
                    "python3",
                    "-c",
                    "from standin.tasks import celery\n\
                     for p in (0, 0, 5, 9):\n    \
                     celery.send_task('conformance.never_run', queue='orphan', priority=p)",
                ])
                .with_cmd_ready_condition(CmdWaitFor::exit_code(0)),
            )
            .await
            .expect("the producer runs");
        let _ = sent.stdout_to_vec().await;
        let lengths = celery_control::queue_lengths(&broker, REPLY_TIMEOUT)
            .await
            .unwrap();
        assert!(
            lengths.contains(&celery_control::QueueLength {
                queue: "orphan".into(),
                waiting: 4
            }),
            "{lengths:?}"
        );
        let o = celery_outcome(&target.clone().with_backlog_limit(3), "celery.backlog").await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert_eq!(
            o.got, "1 queue(s) over 3 waiting message(s): orphan (4)",
            "{o}"
        );
        assert!(
            o.evidence
                .contains(&"orphan: 4 waiting (no worker consumes it)".to_string()),
            "{o}"
        );
        let o = celery_outcome(&target.clone().with_backlog_limit(4), "celery.backlog").await;
        assert_eq!(o.status, Status::Passed, "{o}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_broker_password_fails_without_printing_it_and_silence_is_no_answer() {
    let Some(engine) = common::engine_or_skip("celery wrong password").await else {
        return;
    };
    labelled_run(&engine, |run_id| async move {
        let net = network(&run_id).await;
        let redis = redis(&run_id, &net).await;

        let wrong = "not-the-broker-password";
        let broker = broker_url(&redis, wrong).await;
        let err = celery_control::ping(&broker, REPLY_TIMEOUT)
            .await
            .expect_err("a wrong password must be refused");
        let text = err.to_string();
        assert!(!text.contains(wrong) && !text.contains(PASSWORD), "{text}");
        assert!(
            text.contains("redis://:***@127.0.0.1:"),
            "names the broker: {text}"
        );
        let target = Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_broker(broker);
        let outcomes = suites::run_suites(&target, &[Suite::Celery]).await.outcomes;
        for o in &outcomes {
            let shown = serde_json::to_string(o).unwrap();
            assert!(!shown.contains(wrong), "{shown}");
        }
        for id in ["celery.ping", "celery.queues", "celery.backlog"] {
            let o = outcomes.iter().find(|o| o.check == id).unwrap();
            assert_eq!(o.status, Status::Failed, "{o}");
        }

        // The right password and no worker: the broadcast goes out, nobody answers.
        let broker = broker_url(&redis, PASSWORD).await;
        let replies = celery_control::ping(&broker, REPLY_TIMEOUT).await.unwrap();
        assert!(replies.is_empty(), "{replies:?}");
        let target = Target::new("http://127.0.0.1:9")
            .unwrap()
            .with_broker(broker);
        let o = celery_outcome(&target, "celery.queues").await;
        assert_eq!(o.status, Status::Failed, "{o}");
        assert_eq!(o.got, "no worker answered active_queues within 5s", "{o}");
        let o = celery_outcome(&target, "celery.backlog").await;
        assert_eq!(
            (o.status, o.got.as_str()),
            (Status::Passed, "every queue is empty"),
            "{o}"
        );
    })
    .await;
}
