//! The dashboard in a real browser: a local stack (Bitcoin Core on regtest, devcluster, the
//! scheduler, the Mesos-launched proxy and miner) mines, and headless Chromium opens each page
//! the scheduler serves. Each page renders without console errors, shows what the JSON API
//! says (read before and after, so moving numbers are bracketed), the Pool page's numbers and
//! the Blocks page follow the event stream without a reload (a block is on the page within
//! seconds of the proxy's `submitblock`), and a screenshot of each page is saved under
//! `<target>/dashboard-screenshots/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tests::bins::workspace_bin;
use tests::browser::Browser;
use tests::mining::wait_until;
use tests::node::{Chain, Node};
use tests::stack::{http_get_json, Stack, StackConfig, StackExtras, Tasks};
use tests::wallet::{AddressKind, TestWallet};

/// `<target>/dashboard-screenshots`, beside the profile directory this test runs from.
fn screenshots_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // <target>/<profile>/deps/<test>
    let target = exe
        .ancestors()
        .nth(3)
        .expect("a test runs from <target>/<profile>/deps");
    target.join("dashboard-screenshots")
}

/// Percent-encodes a worker name for a URL.
fn encode(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Opens `page` and waits until it has rendered with data.
fn open(browser: &mut Browser, base: &str, route: &str, page: &str) {
    browser.open(&format!("{base}/#/{route}")).unwrap();
    let ready =
        format!("!!document.body && document.body.dataset.ready === '1' && document.body.dataset.page === '{page}'");
    assert!(
        browser.wait_for(&ready, Duration::from_secs(20)).unwrap(),
        "page {route} did not render: {}",
        browser
            .eval("document.getElementById('error').textContent")
            .unwrap()
    );
}

/// The page has counted no error of its own (`window.onerror`, failed API calls).
fn no_page_errors(browser: &mut Browser, route: &str) {
    let errors = browser.eval("document.body.dataset.errors").unwrap();
    let text = browser
        .eval("document.getElementById('error').textContent")
        .unwrap();
    assert_eq!(errors, "0", "{route}: {text}");
}

fn strings(value: Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn dashboard_pages_show_the_live_numbers_in_chromium() {
    let node = &Node::start(Chain::Regtest).expect("node");
    let payout = TestWallet::new(node.network(), "dashboard")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let (executor, _) = (workspace_bin("executor"), workspace_bin("proxy"));
    // One revocable CPU of slack beside the two regular ones: the cluster page marks the
    // miner that takes it.
    let stack = Stack::start_with(
        &StackConfig::for_test(Tasks::Processes { executor }, 1, 2.0, dir.path()).unwrap(),
        node,
        &payout,
        &StackExtras {
            revocable_cpus: 1.0,
            ..StackExtras::default()
        },
    )
    .expect("start devcluster and the scheduler");
    check_dashboard(stack.status_port);
    drop(stack);
}

/// Every check of the dashboard served on 127.0.0.1:`port` by a stack that mines (regtest:
/// blocks keep coming).
fn check_dashboard(port: u16) {
    let get = |path: &str| http_get_json(port, path).unwrap_or(Value::Null);
    let base = format!("http://127.0.0.1:{port}");

    // Through the scheduler: the pool's history (forwarded to the proxy) fills up.
    wait_until(
        "two blocks and a worker in the dashboard's history",
        Duration::from_secs(300),
        || {
            get("/api/v1/blocks")["total"].as_u64().unwrap_or(0) >= 2
                && get("/api/v1/workers")["workers"]
                    .as_array()
                    .is_some_and(|w| !w.is_empty())
        },
    );
    let shots = screenshots_dir();
    let mut browser = Browser::start((1440, 1100)).expect("chromium");

    // Pool: the job as the API had it, the counters following the event stream.
    let job_before = get("/api/v1/job/window");
    open(&mut browser, &base, "pool", "pool");
    let job_after = get("/api/v1/job/window");
    let height: u64 = browser
        .eval("document.getElementById('job-height').textContent.replace(/,/g, '')")
        .unwrap()
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (h0, h1) = (
        job_before["height"].as_u64().unwrap(),
        job_after["height"].as_u64().unwrap(),
    );
    assert!(
        h0 <= height && height <= h1,
        "job height {height}, API {h0}..{h1}"
    );
    let accepted = "Number(document.getElementById('main').dataset.accepted)";
    let first = browser.eval(accepted).unwrap().as_u64().unwrap();
    let before = get("/api/v1/pool")["accepted"].as_u64().unwrap();
    // An event computed after `before` arrives within two event periods.
    std::thread::sleep(Duration::from_millis(4500));
    let live = browser.eval(accepted).unwrap().as_u64().unwrap();
    let after = get("/api/v1/pool")["accepted"].as_u64().unwrap();
    assert!(
        before <= live && live <= after,
        "page shows {live} accepted shares, the API {before}..{after}"
    );
    assert!(
        live > first,
        "the page did not follow the event stream ({first} -> {live})"
    );
    assert_eq!(
        browser
            .eval("document.getElementById('live').classList.contains('on')")
            .unwrap(),
        Value::Bool(true)
    );
    no_page_errors(&mut browser, "pool");
    browser.screenshot(&shots.join("pool.png")).unwrap();

    // Workers: one row per worker of the API.
    let api_names: Vec<String> = get("/api/v1/workers")["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_owned())
        .collect();
    open(&mut browser, &base, "workers", "workers");
    let mut rows = strings(
        browser
            .eval("[...document.querySelectorAll('tr[data-worker]')].map(r => r.dataset.worker)")
            .unwrap(),
    );
    rows.sort();
    let mut expected = api_names.clone();
    expected.sort();
    assert_eq!(rows, expected);
    no_page_errors(&mut browser, "workers");
    browser.screenshot(&shots.join("workers.png")).unwrap();

    // One worker's page.
    let name = &api_names[0];
    open(
        &mut browser,
        &base,
        &format!("worker/{}", encode(name)),
        "worker",
    );
    assert_eq!(
        browser
            .eval("document.getElementById('worker-name').textContent")
            .unwrap(),
        Value::String(name.clone())
    );
    let detail = get(&format!("/api/v1/worker/{}", encode(name)));
    assert_eq!(detail["worker"]["name"], Value::String(name.clone()));
    no_page_errors(&mut browser, "worker");
    browser.screenshot(&shots.join("worker.png")).unwrap();

    // Blocks: every block the API had is on the page, and a block found after the page loaded
    // shows up within seconds of the proxy submitting it, without a reload.
    open(&mut browser, &base, "blocks", "blocks");
    let opened = unix_now();
    let shown = |browser: &mut Browser| {
        strings(
            browser
                .eval("[...document.querySelectorAll('tr[data-hash]')].map(r => r.dataset.hash)")
                .unwrap(),
        )
    };
    let listed: Vec<String> = get("/api/v1/blocks")["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .take(100)
        .map(|b| b["hash"].as_str().unwrap().to_owned())
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    let on_page = shown(&mut browser);
    for hash in &listed {
        assert!(
            on_page.contains(hash),
            "block {hash} of the API is not on the page"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let (fresh, seen_in_api) = loop {
        assert!(Instant::now() < deadline, "no new block within 120 s");
        let newest = get("/api/v1/blocks")["blocks"][0].clone();
        let hash = newest["hash"].as_str().unwrap_or_default().to_owned();
        if newest["time"].as_u64().unwrap_or(0) > opened && !listed.contains(&hash) {
            break (hash, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let on_page = format!("!!document.querySelector('tr[data-hash=\"{fresh}\"]')");
    assert!(
        browser.wait_for(&on_page, Duration::from_secs(5)).unwrap(),
        "block {fresh} not on the page 5 s after the API listed it"
    );
    let delay = seen_in_api.elapsed();
    eprintln!("block {fresh} on the Blocks page {delay:?} after the API listed it");
    let outcome = get("/api/v1/blocks")["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["hash"] == fresh.as_str())
        .map(|b| b["outcome"].clone());
    assert!(outcome.is_some(), "{fresh} not in the API");
    no_page_errors(&mut browser, "blocks");
    browser.screenshot(&shots.join("blocks.png")).unwrap();

    // Cluster: the framework and the tasks as /api/v1/cluster has them, a miner on
    // revocable CPUs marked as such.
    let revocable = |cluster: &Value| -> Vec<String> {
        let mut ids: Vec<String> = cluster["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["revocable"] == true)
            .map(|t| t["id"].as_str().unwrap_or_default().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let mut cluster = Value::Null;
    wait_until(
        "a miner on revocable CPUs",
        Duration::from_secs(120),
        || {
            cluster = get("/api/v1/cluster");
            !revocable(&cluster).is_empty()
        },
    );
    open(&mut browser, &base, "cluster", "cluster");
    assert_eq!(
        browser
            .eval("document.getElementById('framework-id').textContent")
            .unwrap(),
        cluster["framework_id"]
    );
    let mut tasks = strings(
        browser
            .eval("[...document.querySelectorAll('tr[data-task]')].map(r => r.dataset.task)")
            .unwrap(),
    );
    tasks.sort();
    let mut expected: Vec<String> = cluster["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    expected.sort();
    assert_eq!(tasks, expected);
    let mut marked = strings(
        browser
            .eval("[...document.querySelectorAll('tr[data-cpu-kind=revocable]')].map(r => r.dataset.task)")
            .unwrap(),
    );
    marked.sort();
    assert_eq!(
        marked,
        revocable(&cluster),
        "the revocable tasks of {cluster}"
    );
    let shown: f64 = browser
        .eval("document.getElementById('revocable-cpus').textContent")
        .unwrap()
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-1.0);
    let held = cluster["revocable_cpus"].as_f64().unwrap();
    assert!(
        held > 0.0 && (shown - held).abs() < 0.01,
        "shown {shown}, held {held}"
    );
    assert!(
        tasks.iter().any(|t| t.starts_with("proxy"))
            && tasks.iter().any(|t| t.starts_with("miner"))
    );
    assert!(
        !cluster["agents"].as_array().unwrap().is_empty(),
        "{cluster}"
    );
    no_page_errors(&mut browser, "cluster");
    browser.screenshot(&shots.join("cluster.png")).unwrap();

    // Nothing on the console of any page.
    assert!(
        browser.errors().is_empty(),
        "console: {:?}",
        browser.errors()
    );
    for page in ["pool", "workers", "worker", "blocks", "cluster"] {
        let png = std::fs::read(shots.join(format!("{page}.png"))).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{page}.png"
        );
    }
    eprintln!("screenshots in {}", shots.display());
}

/// The same checks against a stack already running (e.g. `mesos-miner local`'s), at `DASHBOARD_URL`
/// (`http://127.0.0.1:PORT`, the scheduler's): screenshots land in
/// `<target>/dashboard-screenshots/` too.
/// `DASHBOARD_URL=http://127.0.0.1:PORT cargo test -p tests --test dashboard -- --ignored`.
#[test]
#[ignore = "needs DASHBOARD_URL of a running stack"]
fn dashboard_of_a_running_stack() {
    let base = std::env::var("DASHBOARD_URL").expect("DASHBOARD_URL");
    let port: u16 = base
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("DASHBOARD_URL ends in :PORT");
    check_dashboard(port);
}
