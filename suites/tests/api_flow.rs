//! The api suite's journey against a scripted server: the edges no real server here produces
//! (5xx mid-flow, malformed JSON, a status that goes back, a document that never finishes, a
//! server that stops answering). The happy path and Dify's real behaviour are proven against the
//! stand-in stack (harness/tests/conformance.rs) and, through `check`, any deployment.

use std::time::Duration;

use serde_json::json;
use suites::{Admin, Outcome, Secret, Settings, Status, Suite, Target, run_suites};
use wiremock::matchers::{body_string_contains, header_exists, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DATASET: &str = "6a3f8d4e-0000-4000-8000-000000000001";
const DOCUMENT: &str = "6a3f8d4e-0000-4000-8000-000000000002";
const FILE: &str = "6a3f8d4e-0000-4000-8000-000000000003";

fn cookies() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"result": "success"}))
        .append_header(
            "Set-Cookie",
            "access_token=at; Max-Age=3600; HttpOnly; Path=/; SameSite=Lax",
        )
        .append_header(
            "Set-Cookie",
            "refresh_token=rt; Max-Age=2592000; HttpOnly; Path=/; SameSite=Lax",
        )
        .append_header(
            "Set-Cookie",
            "csrf_token=ct; Max-Age=3600; Path=/; SameSite=Lax",
        )
}

/// What the scripted server does differently from Dify's happy path.
#[derive(Default)]
struct Script {
    upload: Option<ResponseTemplate>,
    login: Option<ResponseTemplate>,
    /// Indexing statuses answered one after another (the last one repeats).
    statuses: Vec<(&'static str, Option<&'static str>)>,
}

async fn server(script: Script) -> MockServer {
    let s = MockServer::start().await;
    let memory = Memory::default();
    let mount = |m: Mock| {
        let s = &s;
        async move { m.mount(s).await }
    };
    let setup = SetupState::default();
    mount(Mock::given(path("/console/api/setup")).respond_with(setup.clone())).await;
    mount(
        Mock::given(method("GET"))
            .and(path("/console/api/version"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"version": "1.13.3"}))),
    )
    .await;
    // The wrong password is tried first; its base64 contains the suffix the check adds.
    mount(
        Mock::given(method("POST"))
            .and(path("/console/api/login"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"code": "authentication_failed", "message": "Invalid email or password.", "status": 401})))
            .up_to_n_times(1),
    )
    .await;
    mount(
        Mock::given(method("POST"))
            .and(path("/console/api/login"))
            .respond_with(script.login.unwrap_or_else(cookies)),
    )
    .await;
    // Console calls: 401 without cookies, CSRF 401 without the header.
    mount(
        Mock::given(method("GET"))
            .and(path("/console/api/datasets"))
            .and(header_exists("cookie"))
            .and(wiremock::matchers::header("x-csrf-token", "ct"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"data": [], "total": 0})),
            ),
    )
    .await;
    mount(
        Mock::given(method("GET"))
            .and(path("/console/api/datasets"))
            .and(header_exists("cookie"))
            .respond_with(ResponseTemplate::new(401).set_body_json(json!({"code": "unauthorized", "message": "CSRF token is missing or invalid.", "status": 401}))),
    )
    .await;
    mount(Mock::given(path("/console/api/datasets")).respond_with(
        ResponseTemplate::new(401).set_body_json(
            json!({"code": "unauthorized", "message": "Unauthorized.", "status": 401}),
        ),
    ))
    .await;
    mount(
        Mock::given(method("POST"))
            .and(path("/console/api/files/upload"))
            .respond_with(memory.with(Answer::Upload)),
    )
    .await;
    if let Some(failure) = script.upload {
        // Mounted later but matched first: wiremock prefers the higher priority.
        Mock::given(method("POST"))
            .and(path("/console/api/files/upload"))
            .respond_with(failure)
            .with_priority(1)
            .mount(&s)
            .await;
    }
    mount(
        Mock::given(method("GET"))
            .and(path(format!("/console/api/files/{FILE}/preview")))
            .respond_with(memory.with(Answer::Preview)),
    )
    .await;
    mount(
        Mock::given(method("POST"))
            .and(path("/console/api/datasets/init"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "dataset": {"id": DATASET},
                "documents": [{"id": DOCUMENT, "indexing_status": "waiting"}],
                "batch": "20261202000000123456",
            }))),
    )
    .await;
    let statuses = if script.statuses.is_empty() {
        vec![("waiting", None), ("indexing", None), ("completed", None)]
    } else {
        script.statuses
    };
    let last = statuses.len() - 1;
    for (i, (status, error)) in statuses.into_iter().enumerate() {
        let mut m = Mock::given(method("GET"))
            .and(path_regex(
                r"^/console/api/datasets/[^/]+/batch/[^/]+/indexing-status$",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{
                "id": DOCUMENT, "indexing_status": status, "error": error,
                "completed_segments": 1, "total_segments": 1,
            }]})));
        if i < last {
            m = m.up_to_n_times(1);
        }
        mount(m).await;
    }
    mount(
        Mock::given(method("POST"))
            .and(path_regex(r"^/console/api/datasets/[^/]+/hit-testing$"))
            .and(body_string_contains("keyword_search"))
            .respond_with(memory.with(Answer::HitTest)),
    )
    .await;
    mount(
        Mock::given(method("DELETE"))
            .and(path_regex(r"^/console/api/datasets/.+$"))
            .respond_with(ResponseTemplate::new(204)),
    )
    .await;
    s
}

/// Setup as Dify keeps it: `not_started` until the first POST, which alone succeeds.
#[derive(Clone, Default)]
struct SetupState(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl wiremock::Respond for SetupState {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        use std::sync::atomic::Ordering;
        let done = self.0.load(Ordering::SeqCst);
        match (request.method.as_str(), done) {
            ("GET", false) => ResponseTemplate::new(200)
                .insert_header("X-Version", "1.13.3")
                .set_body_json(json!({"step": "not_started"})),
            ("GET", true) => ResponseTemplate::new(200)
                .insert_header("X-Version", "1.13.3")
                .set_body_json(json!({"step": "finished", "setup_at": "2026-12-02T00:00:00"})),
            (_, false) => {
                self.0.store(true, Ordering::SeqCst);
                ResponseTemplate::new(201).set_body_json(json!({"result": "success"}))
            }
            (_, true) => ResponseTemplate::new(403).set_body_json(
                json!({"code": "already_setup", "message": "Dify has been successfully installed.", "status": 403}),
            ),
        }
    }
}

/// A scripted server's memory of the uploaded document's word, so the preview and the hit test
/// can give it back as a real server would.
#[derive(Clone, Default)]
struct Memory {
    word: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    answer: Answer,
}

#[derive(Clone, Copy, Default)]
enum Answer {
    #[default]
    Upload,
    Preview,
    HitTest,
}

impl Memory {
    fn with(&self, answer: Answer) -> Self {
        Self {
            word: self.word.clone(),
            answer,
        }
    }
}

fn conformance_word(body: &[u8]) -> Option<String> {
    String::from_utf8_lossy(body)
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.starts_with("conformance") && w.len() > "conformance".len())
        .map(str::to_owned)
}

impl wiremock::Respond for Memory {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let mut word = self.word.lock().unwrap();
        match self.answer {
            Answer::Upload => {
                *word = conformance_word(&request.body);
                ResponseTemplate::new(201).set_body_json(
                    json!({"id": FILE, "name": "x.txt", "size": 10, "extension": "txt"}),
                )
            }
            Answer::Preview => ResponseTemplate::new(200).set_body_json(
                json!({"content": format!("The {} is here.", word.clone().unwrap_or_default())}),
            ),
            Answer::HitTest => {
                let w = conformance_word(&request.body).unwrap_or_default();
                let records = if word.as_deref() == Some(w.as_str()) {
                    json!([{"segment": {"content": format!("The {w} is here.")}, "score": 1.0}])
                } else {
                    json!([])
                };
                ResponseTemplate::new(200)
                    .set_body_json(json!({"query": {"content": w}, "records": records}))
            }
        }
    }
}

fn target(server: &MockServer) -> Target {
    Target::new(&server.uri())
        .unwrap()
        .with_writes(true)
        .with_fresh_stack(true)
        .with_admin(Admin {
            email: "admin@example.test".into(),
            name: "admin".into(),
            password: Secret::new("Passw0rd-123"),
        })
        .with_settings(Settings::default())
        .with_index_timeout(Duration::from_secs(3))
        .with_request_timeout(Duration::from_secs(2))
}

fn outcome<'a>(outcomes: &'a [Outcome], id: &str) -> &'a Outcome {
    outcomes
        .iter()
        .find(|o| o.check == id)
        .unwrap_or_else(|| panic!("no {id}"))
}

async fn api(script: Script) -> Vec<Outcome> {
    let s = server(script).await;
    run_suites(&target(&s), &[Suite::Api]).await.outcomes
}

#[tokio::test]
async fn a_server_error_on_upload_fails_upload_and_skips_what_needs_it() {
    let o = api(Script {
        upload: Some(ResponseTemplate::new(500).set_body_json(json!({"code": "internal_server_error", "message": "Internal Server Error", "status": 500}))),
        ..Script::default()
    })
    .await;
    assert_eq!(
        outcome(&o, "api.login").status,
        Status::Passed,
        "{}",
        outcome(&o, "api.login")
    );
    assert_eq!(
        outcome(&o, "api.csrf").status,
        Status::Passed,
        "{}",
        outcome(&o, "api.csrf")
    );
    let upload = outcome(&o, "api.upload");
    assert_eq!(upload.status, Status::Failed, "{upload}");
    assert!(
        upload.evidence.iter().any(|e| e.contains("HTTP 500")),
        "{upload}"
    );
    for dependent in ["api.dataset-index", "api.hit-test"] {
        let d = outcome(&o, dependent);
        assert_eq!(d.status, Status::Skipped, "{d}");
        assert!(d.got.contains("api.upload"), "{d}");
    }
}

#[tokio::test]
async fn malformed_json_from_login_fails_login_with_the_body_as_evidence() {
    let o = api(Script {
        login: Some(ResponseTemplate::new(200).set_body_string("<html>proxy error")),
        ..Script::default()
    })
    .await;
    let login = outcome(&o, "api.login");
    assert_eq!(login.status, Status::Failed, "{login}");
    assert!(
        login.evidence.iter().any(|e| e.contains("proxy error")),
        "{login}"
    );
    assert_eq!(outcome(&o, "api.csrf").status, Status::Skipped);
}

#[tokio::test]
async fn a_status_that_goes_back_fails_indexing() {
    let o = api(Script {
        statuses: vec![("waiting", None), ("indexing", None), ("waiting", None)],
        ..Script::default()
    })
    .await;
    let index = outcome(&o, "api.dataset-index");
    assert_eq!(index.status, Status::Failed, "{index}");
    assert!(
        index.got.contains("went back from `indexing` to `waiting`"),
        "{index}"
    );
}

#[tokio::test]
async fn an_indexing_error_carries_difys_error_text() {
    let o = api(Script {
        statuses: vec![
            ("parsing", None),
            (
                "error",
                Some("[Errno 2] No such file or directory: 'upload_files/t/f.txt'"),
            ),
        ],
        ..Script::default()
    })
    .await;
    let index = outcome(&o, "api.dataset-index");
    assert_eq!(index.status, Status::Failed, "{index}");
    assert!(index.got.contains("No such file or directory"), "{index}");
    assert!(
        index.evidence.iter().any(|e| e.contains("parsing at")),
        "{index}"
    );
}

#[tokio::test]
async fn a_document_that_keeps_waiting_times_out_with_what_was_seen() {
    let o = api(Script {
        statuses: vec![("waiting", None)],
        ..Script::default()
    })
    .await;
    let index = outcome(&o, "api.dataset-index");
    assert_eq!(index.status, Status::Failed, "{index}");
    assert!(
        index.got.starts_with("still `waiting` after 3 s"),
        "{index}"
    );
    assert!(index.got.contains("no broker access"), "{index}");
    assert_eq!(outcome(&o, "api.hit-test").status, Status::Skipped);
}

#[tokio::test]
async fn the_happy_path_passes_every_step_it_can_see() {
    let o = api(Script::default()).await;
    for id in [
        "api.version",
        "api.setup",
        "api.login",
        "api.auth-required",
        "api.csrf",
        "api.upload",
        "api.dataset-index",
        "api.hit-test",
    ] {
        assert_eq!(
            outcome(&o, id).status,
            Status::Passed,
            "{}",
            outcome(&o, id)
        );
    }
}

#[tokio::test]
async fn a_server_that_stops_answering_fails_with_no_response() {
    let s = server(Script {
        login: Some(cookies().set_delay(Duration::from_secs(5))),
        ..Script::default()
    })
    .await;
    let o = run_suites(&target(&s), &[Suite::Api]).await.outcomes;
    let login = outcome(&o, "api.login");
    assert_eq!(login.status, Status::Failed, "{login}");
    assert!(login.got.contains("no response"), "{login}");
}
