//! What code records as metrics, read in a unit test without the process-wide recorder.

/// The Prometheus page of everything `f` records, on a recorder of its own.
pub fn rendered(f: impl FnOnce()) -> String {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::with_local_recorder(&recorder, f);
    handle.render()
}

/// The value of `series` (its name and labels as the page writes them, e.g.
/// `rentops_x{city="SHA"}`) on a rendered page.
pub fn value(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}
