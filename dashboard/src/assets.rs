//! The dashboard's pages, compiled into the binary: one HTML page (the pages are routes of
//! its `#/...` fragment), its script (charts drawn as SVG, no library) and its style sheet.

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// The content type and bytes of the asset at `path`.
pub fn get(path: &str) -> Option<(&'static str, &'static [u8])> {
    let found = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/assets/app.js" => ("text/javascript; charset=utf-8", APP_JS),
        "/assets/style.css" => ("text/css; charset=utf-8", STYLE),
        "/favicon.ico" | "/assets/icon.svg" => ("image/svg+xml", ICON),
        _ => return None,
    };
    Some((found.0, found.1.as_bytes()))
}
