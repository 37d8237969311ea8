//! How a program runs the flow run an agent started it for.
//!
//! An agent starts a deployment's program with `FLOWCORE_FLOW_RUN_ID` (and `FLOWCORE_API_URL`) in its
//! environment. [`entrypoint`], called first thing in `main`, notices, loads that flow run from the
//! server, runs the registered flow of that name with the run's stored parameters as that very run
//! (its states and logs reported to the server), and exits the process: 0 when the run completed,
//! 1 otherwise. Without the variable it returns at once and `main` goes on.
//!
//! While the run goes on, the process sends the server a heartbeat for it every
//! `FLOWCORE_HEARTBEAT_SECONDS`, in the name of the agent that claimed it (`FLOWCORE_AGENT_NAME`;
//! the agent sets both): a run is taken for dead only when neither its agent nor its own process
//! says it is alive.
//!
//! ```no_run
//! // First thing in `main`:
//! flowcore::entrypoint(); // runs the agent's flow run and exits, when there is one
//! // … the program's own work (e.g. applying deployments) …
//! ```

use uuid::Uuid;

use crate::api_client::ApiClient;
use crate::runtime::flow::FlowRunIdentity;
use crate::runtime::state::State;

/// The variable that names the flow run to execute.
pub const FLOW_RUN_ID_VAR: &str = "FLOWCORE_FLOW_RUN_ID";

/// The variable naming the agent that claimed the run: the process sends heartbeats in its name.
pub const AGENT_NAME_VAR: &str = "FLOWCORE_AGENT_NAME";

/// The variable giving the seconds between the process's heartbeats (default 10).
pub const HEARTBEAT_SECONDS_VAR: &str = "FLOWCORE_HEARTBEAT_SECONDS";

/// Runs the flow run named by `FLOWCORE_FLOW_RUN_ID` and exits, when that variable is set; returns
/// at once otherwise.
pub fn entrypoint() {
    let Ok(id) = std::env::var(FLOW_RUN_ID_VAR) else {
        return;
    };
    // On a thread of its own: `main` may already be inside a tokio runtime (`#[tokio::main]`).
    let code = std::thread::spawn(move || crate::__private::block_on(run_deployed(&id)))
        .join()
        .unwrap_or(1);
    std::process::exit(code);
}

async fn run_deployed(id: &str) -> i32 {
    let client = ApiClient::from_settings();
    let Ok(id) = id.parse::<Uuid>() else {
        eprintln!("flowcore: {FLOW_RUN_ID_VAR}={id:?} is not a flow run id");
        return 2;
    };
    let run = match client.flow_run(id).await {
        Ok(run) => run,
        Err(e) => {
            eprintln!("flowcore: cannot load flow run {id}: {e}");
            return 2;
        }
    };
    let Some(flow) = crate::deploy::registry::find(&run.flow_name) else {
        let names: Vec<&str> = crate::deploy::registry::flows()
            .iter()
            .map(|f| f.name())
            .collect();
        let message = format!(
            "this program ({}) has no flow named {:?} (it has: {})",
            std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            run.flow_name,
            names.join(", ")
        );
        eprintln!("flowcore: {message}");
        let _ = client.set_flow_run_state(id, &State::failed(message)).await;
        return 1;
    };
    // The server answered: while the run goes on, a failing request is a restart to wait out.
    crate::reporting::destination::init_for_known_server();
    let identity = FlowRunIdentity::new(id, run.name.clone());
    // SIGTERM (the agent stopping a cancelled run) cancels the flow run cooperatively: its final
    // states are reported before the process exits.
    let token = crate::runtime::CancellationToken::new();
    #[cfg(unix)]
    {
        let token = token.clone();
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::spawn(async move {
                term.recv().await;
                token.cancel();
            });
        }
    }
    let heartbeats = std::env::var(AGENT_NAME_VAR)
        .ok()
        .filter(|agent| !agent.trim().is_empty())
        .map(|agent| tokio::spawn(heartbeat(client.clone(), id, agent, heartbeat_every())));
    let state =
        crate::runtime::with_cancellation(token, flow.run_as(identity, run.parameters.clone()))
            .await;
    if let Some(heartbeats) = heartbeats {
        heartbeats.abort();
    }
    if state.is_completed() {
        0
    } else {
        1
    }
}

/// `FLOWCORE_HEARTBEAT_SECONDS`, or 10 s.
fn heartbeat_every() -> std::time::Duration {
    std::env::var(HEARTBEAT_SECONDS_VAR)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(std::time::Duration::from_secs(10), |s| {
            std::time::Duration::from_secs_f64(s.max(0.05))
        })
}

/// Tells the server, every `every`, that run `id`'s process is alive (in `agent`'s name). A
/// failed heartbeat is tried again at the next tick.
async fn heartbeat(client: ApiClient, id: Uuid, agent: String, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let _ = client.heartbeat_answer(id, &agent).await;
    }
}
