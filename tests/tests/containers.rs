//! The Docker images and the Docker containerizer, on a real engine (the
//! machine's, or podman's Docker API started by `docker/engine`): the images
//! are built from this workspace by `docker/build-images`, then
//! - each is small, static, labelled, runs as a non-root user, and its
//!   entrypoints answer `--help`;
//! - `miner bench` runs inside the miner image and prints its JSON;
//! - a proxy container and a miner container mine a regtest block;
//! - devcluster's Docker containerizer runs the whole stack from the images,
//!   and killing the proxy container kills and relaunches the miners.
//!
//! The tests share one engine and machine, so they run one at a time.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tests::containers::{docker_output, engine, images, Container, Images};
use tests::node::{free_ports, Chain, Node, NodeOptions};
use tests::stack::{Stack, StackConfig, StackExtras, Tasks};
use tests::wallet::{AddressKind, TestWallet};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn stdout_of(args: &[&str]) -> String {
    let output = docker_output(args);
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn images_are_small_static_labelled_and_answer_help() {
    let _serial = serial();
    let images = images();
    for (name, size) in &images.sizes {
        assert!(*size > 0, "{name} has no size");
    }
    let miner_size = images
        .sizes
        .iter()
        .find(|(name, _)| *name == images.miner)
        .map(|(_, size)| *size)
        .unwrap();
    assert!(miner_size < 10_000_000, "miner image is {miner_size} bytes");
    for image in [&images.miner, &images.proxy, &images.scheduler] {
        let user = stdout_of(&["image", "inspect", "--format", "{{.Config.User}}", image]);
        assert_eq!(user.trim(), "65534:65534", "{image} runs as root");
        let labels = stdout_of(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            image,
        ]);
        let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
        for key in ["version", "revision", "source", "title"] {
            let value = labels[format!("org.opencontainers.image.{key}")]
                .as_str()
                .unwrap_or_default();
            assert!(
                !value.is_empty(),
                "{image} lacks the OCI {key} label: {labels}"
            );
        }
        // FROM scratch: nothing but our binaries (and an empty data dir).
        let layers = stdout_of(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]);
        assert!(!layers.contains("FROM debian"), "{image}: {layers}");
    }
    let entrypoints = [
        (&images.miner, None, "Usage: miner"),
        (
            &images.miner,
            Some("/usr/local/bin/executor"),
            "Usage: executor",
        ),
        (&images.proxy, None, "Usage: proxy"),
        (&images.scheduler, None, "Usage: scheduler"),
        (
            &images.scheduler,
            Some("/usr/local/bin/devcluster"),
            "Usage: devcluster",
        ),
    ];
    for (image, entrypoint, usage) in entrypoints {
        let mut args = vec!["run", "--rm"];
        let flag;
        if let Some(entrypoint) = entrypoint {
            flag = format!("--entrypoint={entrypoint}");
            args.push(&flag);
        }
        args.extend([image.as_str(), "--help"]);
        let help = stdout_of(&args);
        assert!(help.contains(usage), "{args:?} printed {help}");
    }
}

#[test]
fn miner_image_bench_prints_json() {
    let _serial = serial();
    let images = images();
    let out = stdout_of(&[
        "run",
        "--rm",
        "--network",
        "host",
        &images.miner,
        "bench",
        "--secs",
        "2",
        "--threads",
        "1",
        "--json",
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect();
    assert!(!lines.is_empty(), "no JSON from bench: {out}");
    for line in &lines {
        assert_eq!(line["threads"], 1, "{line}");
        assert!(line["engine"].as_str().is_some_and(|e| !e.is_empty()));
        assert!(line["seconds"].as_f64().unwrap() >= 1.9, "{line}");
        let hashes = line["hashes"].as_u64().unwrap();
        let rate = line["hash_rate"].as_f64().unwrap();
        assert!(hashes > 0 && rate > 0.0, "{line}");
        let per_core = line["hash_rate_per_core"].as_f64().unwrap();
        assert!((per_core - rate).abs() < 1e-6 * rate, "{line}");
        assert!(
            (hashes as f64 / line["seconds"].as_f64().unwrap() - rate).abs() < 0.01 * rate,
            "{line}"
        );
    }
}

#[test]
fn proxy_and_miner_containers_mine_a_regtest_block() {
    let _serial = serial();
    let images = images();
    let node = &Node::start(Chain::Regtest).expect("regtest node");
    let payout = TestWallet::new(node.network(), "payout")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    let ports = free_ports(2).unwrap();
    let start: u64 = node.height().unwrap();
    let proxy = Container::run(
        &format!("mesos-miner-test-proxy-{}", ports[0]),
        &[
            ("PROXY_RPC_USER", node.rpc_user()),
            ("PROXY_RPC_PASSWORD", node.rpc_password()),
        ],
        &[
            "--network",
            "host",
            &images.proxy,
            "--node-url",
            &node.rpc_url(),
            "--listen",
            &format!("127.0.0.1:{}", ports[0]),
            "--http",
            &format!("127.0.0.1:{}", ports[1]),
            "--fallback-address",
            &payout,
        ],
    );
    let miner = Container::run(
        &format!("mesos-miner-test-miner-{}", ports[0]),
        &[],
        &[
            "--network",
            "host",
            &images.miner,
            "run",
            "--pool",
            &format!("stratum+tcp://127.0.0.1:{}", ports[0]),
            "--user",
            &format!("{payout}.container"),
            "--threads",
            "1",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let height = loop {
        let height: u64 = node.height().unwrap();
        if height > start {
            break height;
        }
        assert!(
            Instant::now() < deadline,
            "no block from the containers.\nproxy:\n{}\nminer:\n{}",
            proxy.logs(),
            miner.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    // The block is ours: its coinbase carries the proxy's tag and pays the miner.
    let hash = node.cli(&["getblockhash", &height.to_string()]).unwrap();
    let block = node.cli_json(&["getblock", &hash, "2"]).unwrap();
    let coinbase = &block["tx"][0];
    let script_sig = coinbase["vin"][0]["coinbase"].as_str().unwrap();
    assert!(
        script_sig.contains(&hex::encode("/mesos-miner/")),
        "coinbase {script_sig} lacks the proxy's tag"
    );
    let paid: Vec<String> = coinbase["vout"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|out| {
            let key = &out["scriptPubKey"];
            key["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .chain(key["address"].as_str().map(Into::into))
        })
        .filter_map(|address| address.as_str().map(str::to_owned))
        .collect();
    assert!(
        paid.contains(&payout),
        "coinbase pays {paid:?}, not {payout}"
    );
}

#[test]
fn docker_stack_mines_and_relaunches_miners_when_the_proxy_container_dies() {
    let _serial = serial();
    let images = images();
    let node = &Node::start(Chain::Regtest).expect("regtest node");
    let payout = TestWallet::new(node.network(), "payout")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let start: u64 = node.height().unwrap();
    // The node's RPC password reaches the proxy container as a Mesos secret (a file-based
    // secret volume, mounted into the container), never in its environment.
    let stack = docker_stack(images, node, &payout, dir.path(), true);
    let logs = || {
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
        format!(
            "devcluster:\n{}\nscheduler:\n{}",
            read("devcluster.log"),
            read("scheduler.log")
        )
    };
    let wait = |what: &str, secs: u64, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; tasks {:?}\n{}",
                stack.tasks(),
                logs()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    let height = || -> u64 { node.height().unwrap() };
    let running = |kind: &str| -> Vec<String> {
        stack
            .tasks()
            .into_iter()
            .filter(|(_, k, state)| k == kind && state == "RUNNING")
            .map(|(id, _, _)| id)
            .collect()
    };
    wait("two miners running", 120, &|| running("miner").len() == 2);
    wait("a block from the containers", 120, &|| height() > start);

    // Every task runs in a container labelled with its task id.
    let container_of = |task: &str| -> String {
        stdout_of(&[
            "ps",
            "-q",
            "--filter",
            &format!("label=mesos.task.id={task}"),
        ])
        .trim()
        .to_owned()
    };
    let proxy = running("proxy").pop().expect("the proxy runs");
    let miners = running("miner");
    for task in miners.iter().chain([&proxy]) {
        assert!(!container_of(task).is_empty(), "no container for {task}");
    }
    let proxy_container = container_of(&proxy);
    // The password is in no container's description (environment, mounts, command), nor in
    // the master's state; the proxy mines with it all the same (the blocks above).
    let password = node.rpc_password().to_owned();
    for task in miners.iter().chain([&proxy]) {
        let inspect = stdout_of(&["inspect", &container_of(task)]);
        assert!(
            inspect.contains("mesos.task.id"),
            "not an inspect output: {inspect}"
        );
        assert!(
            !inspect.contains(&password),
            "docker inspect of {task} has the password"
        );
    }
    let (_, state) = stack.master_request("GET", "/master/state", "").unwrap();
    assert!(
        !state.contains(&password),
        "the master's state has the password"
    );
    stdout_of(&["kill", &proxy_container]);

    // The miners go with it, then a new proxy and new miners come up.
    wait("the old miners' containers gone", 60, &|| {
        miners.iter().all(|task| container_of(task).is_empty())
    });
    wait("a new proxy and two new miners", 120, &|| {
        let proxies = running("proxy");
        let now = running("miner");
        proxies.len() == 1
            && proxies[0] != proxy
            && now.len() == 2
            && now.iter().all(|task| !miners.contains(task))
    });
    let resumed = height();
    wait("blocks after the relaunch", 120, &|| height() > resumed);
    drop(stack);
    // devcluster removes its containers when it stops.
    let left = stdout_of(&["ps", "-aq", "--filter", "label=mesos.task.id"]);
    assert!(left.trim().is_empty(), "containers left behind: {left}");
}

/// devcluster and the scheduler running Docker tasks of `images` on two agents, the proxy
/// reaching `node` through a Mesos secret (`rpc_secret`) or the node's cookie file.
fn docker_stack(
    images: &Images,
    node: &Node,
    payout: &str,
    dir: &std::path::Path,
    rpc_secret: bool,
) -> Stack {
    Stack::start_with(
        &StackConfig::for_test(
            Tasks::Containers {
                miner_image: images.miner.clone(),
                proxy_image: images.proxy.clone(),
                docker_host: engine().to_owned(),
                docker_cli: "docker".into(),
            },
            2,
            1.0,
            dir,
        )
        .unwrap(),
        node,
        payout,
        &StackExtras {
            rpc_secret,
            ..Default::default()
        },
    )
    .expect("start devcluster and the scheduler")
}

/// The scheduler's default way for Docker tasks: the node's cookie file, whose directory the
/// proxy container gets read-only at /run/mesos-miner/node. The image runs as nobody, so the
/// node keeps the cookie in a directory of its own, readable by all (as the README tells
/// operators). It mines, and its description holds the mount but neither the cookie's
/// password nor the node's other one.
#[test]
fn docker_proxy_reads_the_node_cookie_through_a_read_only_mount() {
    let _serial = serial();
    let images = images();
    let cookie_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        cookie_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let node = &Node::start_with(&NodeOptions {
        cookie_dir: Some(cookie_dir.path().to_owned()),
        ..NodeOptions::new(Chain::Regtest)
    })
    .expect("regtest node");
    let payout = TestWallet::new(node.network(), "payout")
        .address(AddressKind::P2wpkh, 0)
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let start: u64 = node.height().unwrap();
    let stack = docker_stack(images, node, &payout, dir.path(), false);
    let deadline = Instant::now() + Duration::from_secs(180);
    while node.height().unwrap() <= start {
        assert!(
            Instant::now() < deadline,
            "no block through the cookie; tasks {:?}\n{}",
            stack.tasks(),
            std::fs::read_to_string(dir.path().join("devcluster.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let proxy = stack
        .tasks()
        .into_iter()
        .find(|(_, kind, state)| kind == "proxy" && state == "RUNNING")
        .map(|(id, _, _)| id)
        .expect("the proxy runs");
    let container = stdout_of(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=mesos.task.id={proxy}"),
    ]);
    let inspect: serde_json::Value =
        serde_json::from_str(&stdout_of(&["inspect", container.trim()])).unwrap();
    let mounts = inspect[0]["Mounts"].as_array().cloned().unwrap_or_default();
    let cookie_dir = node.cookie_path().parent().unwrap().display().to_string();
    assert!(
        mounts
            .iter()
            .any(|mount| mount["Destination"] == "/run/mesos-miner/node"
                && mount["Source"] == cookie_dir.as_str()
                && mount["RW"] == false),
        "no read-only mount of {cookie_dir}: {mounts:?}"
    );
    let cookie = std::fs::read_to_string(node.cookie_path()).unwrap();
    let cookie_password = cookie.trim().split_once(':').unwrap().1.to_owned();
    let text = inspect.to_string();
    for password in [cookie_password.as_str(), node.rpc_password()] {
        assert!(!text.contains(password), "docker inspect has a password");
    }
    drop(stack);
}
