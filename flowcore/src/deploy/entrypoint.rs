//! How a program runs the flow run an agent started it for.
//!
//! An agent starts a deployment's program with `FLOWCORE_FLOW_RUN_ID` (and `FLOWCORE_API_URL`) in its
//! environment. [`entrypoint`], called first thing in `main`, notices, loads that flow run from the
//! server, runs the registered flow of that name with the run's stored parameters as that very run
//! (its states and logs reported to the server), and exits the process: 0 when the run completed,
//! 1 otherwise. Without the variable it returns at once and `main` goes on.
//!
//! While the run goes on, the process sends the server a heartbeat for it (every 0.5 s, as every
//! process reporting to a server does for its runs) in the name of the agent that claimed it
//! (`FLOWCORE_AGENT_NAME`, set by the agent): a run is taken for dead only when neither its agent
//! nor its own process says it is alive.
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
pub const AGENT_NAME_VAR: &str = crate::runtime::cancel::AGENT_NAME_VAR;

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
    let state =
        crate::runtime::with_cancellation(token, flow.run_as(identity, run.parameters.clone()))
            .await;
    if state.is_completed() {
        0
    } else {
        1
    }
}
