//! The notifier: delivers the automations' notification queue (persisted in the database, so a
//! restart loses nothing) to their webhooks — at least once, retrying with exponential backoff
//! (1 s, 2 s, 4 s … at most a minute apart) for up to ten minutes, then recording the failure.
//! It runs beside ingestion and never blocks it.

use std::time::Duration;

use chrono::Utc;

use crate::store::{Queued, Store};

/// How long a notification is retried.
const GIVE_UP_AFTER: chrono::Duration = chrono::Duration::minutes(10);
/// How often the queue is looked at.
const POLL: Duration = Duration::from_millis(250);

/// The pause before retry `attempts` (1 for the first retry).
fn backoff(attempts: i64) -> chrono::Duration {
    chrono::Duration::seconds(1i64 << attempts.clamp(0, 6)).min(chrono::Duration::seconds(60))
}

/// The body as POSTed: the stored transition, the run's UI page, and a `text` line for Slack.
fn body(queued: &Queued, ui_base: &str) -> serde_json::Value {
    let mut body = queued.body.clone();
    let run_id = body["flow_run"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let url = format!("{ui_base}/#/flow-runs/{run_id}");
    let text = format!(
        "Flow run {}/{} entered {}{} — {url}",
        body["flow"].as_str().unwrap_or("?"),
        body["flow_run"]["name"].as_str().unwrap_or("?"),
        body["state"]["name"].as_str().unwrap_or("?"),
        body["message"]
            .as_str()
            .map(|m| format!(": {m}"))
            .unwrap_or_default(),
    );
    body["url"] = url.into();
    body["text"] = text.into();
    body
}

/// One delivery attempt: `Ok` on a 2xx answer, else what went wrong.
async fn deliver(client: &reqwest::Client, queued: &Queued, ui_base: &str) -> Result<(), String> {
    let mut request = client
        .post(&queued.webhook)
        .timeout(Duration::from_secs(10))
        .json(&body(queued, ui_base));
    for (key, value) in &queued.headers {
        request = request.header(key, value);
    }
    match request.send().await {
        Ok(answer) if answer.status().is_success() => Ok(()),
        Ok(answer) => Err(format!("the webhook answered {}", answer.status())),
        Err(e) => {
            // reqwest's own message is generic; its causes say what happened (refused, timed out).
            let mut message = format!("cannot reach the webhook: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            Err(message)
        }
    }
}

/// Delivers what is due now; how many were looked at.
pub(crate) async fn deliver_due(store: &Store, client: &reqwest::Client, ui_base: &str) -> usize {
    let due = match store.due_notifications(Utc::now(), 50).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(target: "flowcore::server", "notifications: {e}");
            return 0;
        }
    };
    for queued in &due {
        let outcome = deliver(client, queued, ui_base).await;
        let recorded = match &outcome {
            Ok(()) => store.record_attempt(queued.id, None, None).await,
            Err(error) => {
                let retry_at = Utc::now() + backoff(queued.attempts + 1);
                let retry_at = (retry_at - queued.created < GIVE_UP_AFTER).then_some(retry_at);
                if retry_at.is_none() {
                    tracing::warn!(
                        target: "flowcore::server",
                        "notification {} to {} failed for 10 minutes; giving up: {error}",
                        queued.id,
                        queued.webhook
                    );
                }
                store.record_attempt(queued.id, Some(error), retry_at).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(target: "flowcore::server", "notifications: {e}");
        }
    }
    due.len()
}

/// Delivers the queue until `stop` turns true.
pub(crate) async fn run(
    store: Store,
    ui_base: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
    leading: tokio::sync::watch::Receiver<bool>,
) {
    let client = reqwest::Client::new();
    loop {
        // Only the server holding the lease delivers (see `services::run`).
        let looked_at = if *leading.borrow() {
            deliver_due(&store, &client, &ui_base).await
        } else {
            0
        };
        if looked_at > 0 {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => return,
        }
    }
}
