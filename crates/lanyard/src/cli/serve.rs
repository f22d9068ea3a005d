//! `lanyard serve`.
use std::net::SocketAddr;
use std::sync::Arc;

use lanyard_config::Settings;
use lanyard_core::clock::SystemClock;

use super::admin::CliError;
use crate::app::App;

pub async fn serve(settings: Settings) -> Result<(), CliError> {
    let started = std::time::Instant::now();
    let listen = settings.listen;
    let issuer = settings.issuer_str();
    let app = App::build(settings, Arc::new(SystemClock))
        .await
        .map_err(|e| CliError::Failed(e.to_string()))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| CliError::Failed(format!("cannot listen on {listen}: {e}")))?;
    // Metrics on their own (private) address, when configured; never on the public listener
    // without [metrics] token.
    let metrics_server = match app.settings.metrics.listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                CliError::Failed(format!("cannot listen on {addr} ([metrics] listen): {e}"))
            })?;
            let ops = app.ops_router();
            tracing::info!(listen = %addr, "metrics listener");
            Some(tokio::spawn(async move {
                let _ = axum::serve(l, ops).await;
            }))
        }
        None => None,
    };
    let background = app.spawn_background();
    tracing::info!(%listen, %issuer, backend = app.db.backend(), startup_ms = started.elapsed().as_millis() as u64, "Lanyard is ready");
    eprintln!(
        "\nLanyard is running: {issuer}\n  discovery: {issuer}/.well-known/openid-configuration\n  account:   {issuer}/account\n\
         Next: create a user with `lanyard user add alice --email alice@example.com` (password on stdin).\n"
    );
    let router = app
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::Failed(format!("server error: {e}")))?;
    background.abort();
    if let Some(m) = metrics_server {
        m.abort();
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
