//! Runs are recorded in the embedded database by default, and the `flowcore` CLI reads them back.
#![cfg(feature = "store")]

use flowcore::prelude::*;

#[task(tags = ["io"])]
fn load(n: u32) -> u32 {
    tracing::info!("loaded {n} rows");
    n
}

#[task]
fn double(n: u32) -> u32 {
    n * 2
}

#[flow(name = "Recorded")]
async fn recorded(n: u32) -> Result<u32, FlowError> {
    let a = load(n).submit();
    Ok(double(a).await?)
}

#[test]
fn runs_land_in_the_embedded_database_and_the_cli_reads_them() {
    let home = tempfile::tempdir().unwrap();
    // Before the first run of this process: the default record goes under FLOWCORE_HOME.
    std::env::set_var("FLOWCORE_HOME", home.path());
    std::env::remove_var("FLOWCORE_DATABASE_URL");
    std::env::remove_var("FLOWCORE_RECORD");
    let state = recorded.run_blocking(21);
    assert_eq!(state.result().unwrap(), 42);
    let db = home.path().join("flowcore.db");
    assert!(db.is_file(), "the embedded database was created");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let runs = rt.block_on(async {
        let store = flowcore::store::Store::connect(&flowcore::store::sqlite_url(&db))
            .await
            .unwrap();
        store.flow_runs(&Default::default()).await.unwrap()
    });
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].flow_name, "Recorded");
    assert_eq!(runs[0].task_run_count, 2);

    #[cfg(feature = "cli")]
    cli(home.path(), &runs[0].name);
}

#[cfg(feature = "cli")]
fn cli(home: &std::path::Path, run_name: &str) {
    use std::process::Command;
    let flowcore = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_flowcore"))
            .args(args)
            .env("FLOWCORE_HOME", home)
            .env_remove("FLOWCORE_API_URL")
            .env_remove("FLOWCORE_DATABASE_URL")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, _) = flowcore(&["flow-run", "ls"]);
    assert!(ok);
    assert!(out.contains(&format!("Recorded › {run_name}")), "{out}");
    assert!(out.contains("Completed"), "{out}");
    let (ok, out, _) = flowcore(&["flow-run", "ls", "--state", "Failed", "--json"]);
    assert!(ok);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap(),
        serde_json::json!([])
    );
    let (ok, out, _) = flowcore(&["flow-run", "inspect", run_name]);
    assert!(ok);
    assert!(out.contains("parameters: {\"n\":21}"), "{out}");
    assert!(
        out.contains("double-0") && out.contains("n←load-0"),
        "{out}"
    );
    let (ok, out, _) = flowcore(&["flow-run", "logs", run_name]);
    assert!(ok);
    assert!(out.contains("Task run 'load-0' - loaded 21 rows"), "{out}");
    assert!(
        out.contains(&format!(
            "Flow run '{run_name}' - Finished in state Completed()"
        )),
        "{out}"
    );
    let (ok, out, _) = flowcore(&["task-run", "ls", "--flow-run", run_name]);
    assert!(ok);
    assert!(out.contains("load-0") && out.contains("double-0"), "{out}");
    let (ok, _, err) = flowcore(&["flow-run", "inspect", "no-such-run"]);
    assert!(!ok);
    assert!(
        err.contains("no flow run with id or name \"no-such-run\""),
        "{err}"
    );

    // Settings.
    let (ok, _, _) = flowcore(&["config", "set", "api-url", "http://127.0.0.1:4200/api"]);
    assert!(ok);
    let (_, out, _) = flowcore(&["config", "view"]);
    assert!(
        out.contains("api-url = http://127.0.0.1:4200/api (from profile)"),
        "{out}"
    );
    let (ok, _, err) = flowcore(&["config", "set", "colour", "blue"]);
    assert!(!ok);
    assert!(err.contains("unknown setting `colour`"), "{err}");
    let (ok, out, _) = flowcore(&["config", "unset", "api-url"]);
    assert!(ok && out.contains("Unset api-url"), "{out}");

    // Secrets: the key masked, the URL's password redacted, the profile readable by its owner only.
    let (ok, _, _) = flowcore(&["config", "set", "api-key", "sk-very-secret-key"]);
    assert!(ok);
    let (ok, _, _) = flowcore(&[
        "config",
        "set",
        "database-url",
        "postgres://app:s3cret-pass@127.0.0.1:5432/flowcore",
    ]);
    assert!(ok);
    let (_, out, _) = flowcore(&["config", "view"]);
    assert!(
        !out.contains("very-secret") && out.contains("api-key = sk-v****"),
        "{out}"
    );
    assert!(
        !out.contains("s3cret-pass") && out.contains("app:***@127.0.0.1"),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    for key in ["api-key", "database-url"] {
        let (ok, _, _) = flowcore(&["config", "unset", key]);
        assert!(ok);
    }

    // Concurrency limits in the embedded database.
    let (ok, out, _) = flowcore(&["concurrency-limit", "create", "io", "3"]);
    assert!(ok, "{out}");
    let (ok, out, _) = flowcore(&["concurrency-limit", "ls", "--json"]);
    assert!(ok && out.contains("\"limit\": 3"), "{out}");
    let (ok, _, err) = flowcore(&["concurrency-limit", "create", "io", "-1"]);
    assert!(!ok, "{err}");

    // Retention: the run just finished is younger than a day; at 0 s old it goes.
    let (ok, out, _) = flowcore(&["server", "database", "vacuum", "--older-than", "1d"]);
    assert!(ok && out.contains("Deleted 0 flow run(s)"), "{out}");
    let (ok, _, err) = flowcore(&["server", "database", "vacuum", "--older-than", "soon"]);
    assert!(!ok && err.contains("--older-than"), "{err}");
    let (ok, out, _) = flowcore(&[
        "server",
        "database",
        "vacuum",
        "--older-than",
        "0s",
        "--dry-run",
        "--json",
    ]);
    assert!(ok, "{out}");
    let counted: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(counted["flow_runs"], 1, "{out}");
    assert_eq!(counted["task_runs"], 2, "{out}");
    let (ok, out, _) = flowcore(&["server", "database", "vacuum", "--older-than", "0s"]);
    assert!(
        ok && out.contains("Deleted 1 flow run(s), 2 task run(s)"),
        "{out}"
    );
    let (_, out, _) = flowcore(&["flow-run", "ls"]);
    assert!(out.contains("Run a flow to get started"), "{out}");

    // Reset asks first; without a terminal it refuses unless --yes.
    let (ok, _, err) = flowcore(&["server", "database", "reset"]);
    assert!(!ok);
    assert!(err.contains("pass --yes"), "{err}");
    let (ok, _, _) = flowcore(&["server", "database", "reset", "--yes"]);
    assert!(ok);
    let (_, out, _) = flowcore(&["flow-run", "ls"]);
    assert!(out.contains("Run a flow to get started"), "{out}");
}
