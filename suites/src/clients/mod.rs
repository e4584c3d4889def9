//! Protocol clients the checks share: a TLS prober and Celery's remote control over Redis.

pub mod cdp;
pub mod celery_control;
pub mod console;
pub mod tls_probe;
pub mod tls_scan;
