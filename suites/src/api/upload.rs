//! `api.upload`: a file uploaded through the console API is stored through the deployment's
//! STORAGE_TYPE and can be read back.
//!
//! Dify 1.13.3 (`controllers/console/files.py`, research §3, §7): `POST /console/api/files/upload`
//! (multipart `file`, form `source=datasets`) answers 201 with the file's `id`, `name`, `size`,
//! `extension`, `mime_type`; the api saves it with the storage backend under
//! `upload_files/<tenant_id>/<uuid>.<ext>`; `GET /console/api/files/<id>/preview` loads it back
//! through the same backend (`{"content": text}`). A wrong storage setting shows up here as a
//! 500 on upload or on preview. Where the file landed (the path or bucket key) is shown when the
//! harness can look into the stack.

use reqwest::Method;

use crate::flow::{Done, Flow, Upload};
use crate::outcome::{Probe, Severity};
use crate::suite::{Check, Suite};

pub(crate) const CHECK: Check = Check {
    id: "api.upload",
    suite: Suite::Api,
    severity: Severity::Critical,
    title: "an uploaded file is stored through STORAGE_TYPE (where it landed is shown) and reads back the same",
};
const PATH: &str = "/console/api/files/upload";

/// The text uploaded: a word no other document contains, repeated so keyword indexing keeps it.
fn document(word: &str) -> String {
    format!(
        "Conformance probe document.\n\nThe {word} is the word this document alone contains. \
         Searching for {word} must find this paragraph.\n\nIt was uploaded by dify-conformance \
         and is removed with its dataset after the run.\n"
    )
}

pub(crate) async fn run(flow: &Flow) -> Done<Upload> {
    let target = flow.target();
    let mut probe = Probe::new(
        &CHECK,
        "HTTP 201 with a file id; the preview reads back the uploaded text",
    )
    .url(target.url(PATH));
    if !target.writes_allowed() {
        return Done::without(probe.skip("writes are not allowed (pass --allow-writes)"));
    }
    let session = match flow.login().await.needed() {
        Ok(s) => s,
        Err(why) => return Done::without(probe.skip(why)),
    };
    let token = uuid::Uuid::new_v4().simple().to_string();
    let word = format!("conformance{}", &token[..10]);
    let name = format!("dify-conformance-{}.txt", &token[..8]);
    let content = document(&word);
    let answer = match session.upload_text(&name, &content).await {
        Ok(a) => a,
        Err(e) => return Done::without(probe.fail(e)),
    };
    probe.evidence(answer.line());
    let Some(file_id) = answer.str_field("/id").map(str::to_owned) else {
        return Done::without(probe.fail(format!(
            "upload answered HTTP {} without a file id{}",
            answer.status,
            answer
                .message()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        )));
    };
    if answer.status != 201 {
        return Done::without(
            probe.fail(format!("upload answered HTTP {}, not 201", answer.status)),
        );
    }
    probe.fact("file_id", file_id.clone());

    if let Some(inspector) = target.inspector() {
        match inspector.locate_upload(&file_id, &word).await {
            Ok(places) if !places.is_empty() => {
                for p in &places {
                    probe.evidence(format!("stored at: {p}"));
                }
                probe.fact("stored_at", places.join(", "));
            }
            Ok(_) => {
                return Done::without(probe.fail(format!(
                    "the api accepted the file, but it is nowhere in the configured {} storage",
                    target.settings().get("STORAGE_TYPE").unwrap_or("?")
                )));
            }
            Err(why) => probe.evidence(format!("where it landed could not be seen: {why}")),
        }
    } else {
        probe.evidence("where it landed: not observable from here (no access to the storage)");
    }

    let preview = format!("/console/api/files/{file_id}/preview");
    let back = match session.call(Method::GET, &preview, None).await {
        Ok(a) => a,
        Err(e) => return Done::without(probe.fail(e)),
    };
    probe.evidence(back.line());
    match back.str_field("/content") {
        Some(text) if text.contains(&word) => {
            let got = format!(
                "HTTP 201, file {file_id} ({} bytes); the preview reads it back",
                content.len()
            );
            Done::passed(probe.pass(got), Upload { file_id, word })
        }
        Some(_) => Done::without(probe.fail("the preview answered other text than was uploaded")),
        None => Done::without(probe.fail(format!(
            "the file could not be read back: HTTP {}{}",
            back.status,
            back.message().map(|m| format!(" `{m}`")).unwrap_or_default()
        ))),
    }
}
