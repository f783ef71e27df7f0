//! A real headless browser for pages the project writes (the weekly report): Debian's chromium,
//! which `deploy/local/install-chromium.sh` installs. A page is loaded from its file and its
//! final DOM returned; any console line fails it. This chromium prints every console call and
//! every uncaught error at INFO level on stderr, whatever its severity, so all of them count: a
//! page that is well logs nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long chromium may take over one page.
const PATIENCE: Duration = Duration::from_secs(90);

/// Chromium: `RENTOPS_CHROMIUM`, else `/usr/bin/chromium`, else `chromium` on `PATH`; panics
/// naming the install script when there is none.
pub fn chromium() -> PathBuf {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("chromium"))
            .collect::<Vec<_>>()
    });
    std::env::var_os("RENTOPS_CHROMIUM")
        .map(PathBuf::from)
        .into_iter()
        .chain([PathBuf::from("/usr/bin/chromium")])
        .chain(on_path)
        .find(|c| c.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no chromium found (RENTOPS_CHROMIUM, /usr/bin/chromium, PATH): run deploy/local/install-chromium.sh \
                 and set RENTOPS_CHROMIUM to the path it prints"
            )
        })
}

async fn run(args: &[String]) -> Result<std::process::Output, String> {
    let profile = tempfile::tempdir().map_err(|e| format!("no profile directory: {e}"))?;
    let command = tokio::process::Command::new(chromium())
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PATIENCE, command)
        .await
        .map_err(|_| format!("chromium did not finish within {} s", PATIENCE.as_secs()))?
        .map_err(|e| format!("cannot run chromium: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chromium exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

/// Loads `file` and returns the DOM the page ended with, or why it fails: chromium failing, or
/// any line the page logged to the console.
pub async fn render(file: &Path) -> Result<String, String> {
    let out = run(&[
        "--enable-logging=stderr".into(),
        "--v=0".into(),
        "--dump-dom".into(),
        format!("file://{}", file.display()),
    ])
    .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    if !console.is_empty() {
        return Err(format!("console messages:\n{}", console.join("\n")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A picture of the page in `file`, `width` × `height` pixels, written to `png`.
pub async fn screenshot(file: &Path, png: &Path, width: u32, height: u32) -> Result<(), String> {
    run(&[
        "--hide-scrollbars".into(),
        format!("--window-size={width},{height}"),
        format!("--screenshot={}", png.display()),
        format!("file://{}", file.display()),
    ])
    .await
    .map(|_| ())
}
