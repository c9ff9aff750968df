//! Headless Chromium driven over the DevTools protocol (a websocket to
//! `--remote-debugging-port`): open a page, evaluate JavaScript in it, take screenshots, and
//! collect what its console reported (`console.error`/`warn`, uncaught exceptions, and the
//! browser's own log entries such as resources that failed to load). A page stays open while
//! the test watches it change, which `--dump-dom` cannot do with a live event stream.

use std::io::Read as _;
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{stream::MaybeTlsStream, Message, WebSocket};

/// How the browser failed.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium is not installed.
    #[error(transparent)]
    Missing(#[from] crate::prerequisites::Missing),
    /// Starting or talking to the process failed.
    #[error("chromium: {0}")]
    Io(#[from] std::io::Error),
    /// The DevTools endpoint answered something unexpected.
    #[error("chromium's DevTools endpoint: {0}")]
    Protocol(String),
    /// The DevTools websocket failed.
    #[error("chromium's DevTools websocket: {0}")]
    Socket(#[from] tungstenite::Error),
}

/// A console message or exception of the page.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleEntry {
    /// `error`, `warning`, `exception`, ...
    pub level: String,
    /// What the page logged, or the exception's description.
    pub text: String,
}

/// A headless Chromium with one page; killed on drop.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Everything the page's console and the browser's log reported so far.
    pub console: Vec<ConsoleEntry>,
}

/// `GET path` on 127.0.0.1:`port` (DevTools' HTTP side), the body (read up to its
/// `Content-Length`: the server keeps the connection open).
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::Write as _;
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if length.is_some_and(|n| body.len() >= n) {
                return Ok(body.to_owned());
            }
        }
        match stream.read(&mut chunk)? {
            0 => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                return Ok(text
                    .split_once("\r\n\r\n")
                    .map_or("", |(_, b)| b)
                    .to_owned());
            }
            n => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

impl Browser {
    /// Starts the browser with a `width` x `height` window on a blank page.
    pub fn start((width, height): (u32, u32)) -> Result<Self, BrowserError> {
        crate::prerequisites::require("dashboard")?;
        let profile = tempfile::tempdir()?;
        let port =
            crate::node::free_ports(1).map_err(|e| BrowserError::Protocol(e.to_string()))?[0];
        // Its own process group: `chromium` is a wrapper script, and the browser's processes
        // are all stopped with the group.
        let child = Command::new("chromium")
            .process_group(0)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--no-first-run",
                "--disable-extensions",
                "--mute-audio",
            ])
            .arg(format!("--remote-debugging-port={port}"))
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = loop {
            let found = http_get(port, "/json/list").ok().and_then(|body| {
                let targets: Value = serde_json::from_str(&body).ok()?;
                targets.as_array()?.iter().find(|t| t["type"] == "page")?["webSocketDebuggerUrl"]
                    .as_str()
                    .map(str::to_owned)
            });
            match found {
                Some(url) => break url,
                None if Instant::now() > deadline => {
                    return Err(BrowserError::Protocol(format!(
                        "no page target on port {port} within 30 s"
                    )))
                }
                None => std::thread::sleep(Duration::from_millis(200)),
            }
        };
        let (socket, _) = tungstenite::connect(url.as_str())?;
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        }
        let mut browser = Self {
            child,
            _profile: profile,
            socket,
            next_id: 0,
            console: Vec::new(),
        };
        browser.call("Runtime.enable", json!({}))?;
        browser.call("Log.enable", json!({}))?;
        browser.call("Page.enable", json!({}))?;
        Ok(browser)
    }

    /// Notes a console event.
    fn observe(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled") => {
                let text = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        a["value"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| a["description"].to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(" ");
                self.console.push(ConsoleEntry {
                    level: params["type"].as_str().unwrap_or("log").to_owned(),
                    text,
                });
            }
            Some("Runtime.exceptionThrown") => self.console.push(ConsoleEntry {
                level: "exception".into(),
                text: params["exceptionDetails"].to_string(),
            }),
            Some("Log.entryAdded") => self.console.push(ConsoleEntry {
                level: params["entry"]["level"]
                    .as_str()
                    .unwrap_or("log")
                    .to_owned(),
                text: format!(
                    "{} {}",
                    params["entry"]["text"].as_str().unwrap_or_default(),
                    params["entry"]["url"].as_str().unwrap_or_default()
                ),
            }),
            _ => {}
        }
    }

    /// Calls DevTools method `method`; its result.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket.send(Message::text(request.to_string()))?;
        loop {
            let message = self.socket.read()?;
            let Message::Text(text) = message else {
                continue;
            };
            let value: Value = serde_json::from_str(text.as_str())
                .map_err(|e| BrowserError::Protocol(e.to_string()))?;
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    return Err(BrowserError::Protocol(format!("{method}: {error}")));
                }
                return Ok(value["result"].clone());
            }
            self.observe(&value);
        }
    }

    /// Opens `url` in the page.
    pub fn open(&mut self, url: &str) -> Result<(), BrowserError> {
        self.call("Page.navigate", json!({ "url": url }))?;
        Ok(())
    }

    /// The value of JavaScript `expression` in the page (JSON-like values only).
    pub fn eval(&mut self, expression: &str) -> Result<Value, BrowserError> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(details) = result.get("exceptionDetails") {
            return Err(BrowserError::Protocol(format!("{expression}: {details}")));
        }
        Ok(result["result"]["value"].clone())
    }

    /// Waits until `expression` is true in the page (it is evaluated every 100 ms); false
    /// when `timeout` passed first.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration) -> Result<bool, BrowserError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.eval(expression)? == Value::Bool(true) {
                return Ok(true);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(false)
    }

    /// A PNG of the page as it is now (beyond the window too, up to 1400 px high), written to
    /// `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<(), BrowserError> {
        use base64::Engine as _;
        let metrics = self.call("Page.getLayoutMetrics", json!({}))?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64().unwrap_or(1440.0),
            size["height"].as_f64().unwrap_or(1000.0).min(1400.0),
        );
        let result = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
            }),
        )?;
        let data = result["data"]
            .as_str()
            .ok_or_else(|| BrowserError::Protocol("a screenshot without data".into()))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| BrowserError::Protocol(e.to_string()))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// The console entries at `error` level or worse (exceptions included).
    pub fn errors(&self) -> Vec<&ConsoleEntry> {
        self.console
            .iter()
            .filter(|e| matches!(e.level.as_str(), "error" | "exception" | "assert"))
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_run_report_their_console_and_leave_no_process() {
        let mut browser = Browser::start((800, 600)).expect("chromium");
        let page = "data:text/html,<body data-x=7><script>console.error('boom')</script></body>";
        browser.open(page).unwrap();
        assert!(browser
            .wait_for(
                "document.body && document.body.dataset.x === '7'",
                Duration::from_secs(20)
            )
            .unwrap());
        assert_eq!(browser.eval("1 + 2").unwrap(), json!(3));
        assert!(browser.eval("nope.nope").is_err());
        // Console events arrive with the next call.
        browser.eval("0").unwrap();
        let errors: Vec<String> = browser.errors().iter().map(|e| e.text.clone()).collect();
        assert!(errors.iter().any(|t| t.contains("boom")), "{errors:?}");
        let group = browser.child.id();
        drop(browser);
        // Killed at once; gone once reaped.
        let deadline = Instant::now() + Duration::from_secs(10);
        let left = loop {
            let left = Command::new("pgrep")
                .args(["-g", &group.to_string()])
                .output()
                .unwrap();
            if left.stdout.is_empty() || Instant::now() > deadline {
                break left;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(
            left.stdout.is_empty(),
            "left running: {}",
            String::from_utf8_lossy(&left.stdout)
        );
    }
}
