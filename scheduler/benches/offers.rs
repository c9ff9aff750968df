//! The scheduler's offer planning at scale: one OFFERS event carrying 10,000
//! offers from 10,000 agents, once the proxy runs (every offer becomes a miner
//! launch). `cargo bench -p scheduler --bench offers`; target: under 1 s of CPU.

use criterion::{criterion_main, BatchSize, Criterion};
use mesos::v1::{AgentId, FrameworkId, Offer, OfferId, Resource, TaskStatus};
use scheduler::config::Config;
use scheduler::plan::plan_offers;
use scheduler::tasks::TaskBook;

const AGENTS: usize = 10_000;

fn offer(i: usize) -> Offer {
    Offer {
        id: OfferId {
            value: format!("o{i}"),
        },
        framework_id: FrameworkId { value: "fw".into() },
        agent_id: AgentId {
            value: format!("a{i}"),
        },
        hostname: format!("agent{i}.example"),
        resources: vec![
            Resource::scalar("cpus", 1.0 + (i % 8) as f64 * 0.5),
            Resource::scalar("mem", 2048.0),
            Resource::ranges("ports", &[(31000, 32000)]),
        ],
        ..Default::default()
    }
}

/// A task book whose proxy is RUNNING, so that offers become miners.
fn book_with_running_proxy(config: &Config) -> TaskBook {
    let mut book = TaskBook::default();
    plan_offers(config, &mut book, &[offer(AGENTS)], 0);
    let proxy = book.proxy().expect("proxy launched").clone();
    let status = TaskStatus {
        task_id: proxy.id.into(),
        state: mesos::v1::TaskState::TaskRunning as i32,
        agent_id: Some(proxy.agent_id.into()),
        ..Default::default()
    };
    book.apply_status(&status, 1, &config.backoff);
    assert!(book.running_proxy().is_some());
    book
}

fn offers(c: &mut Criterion) {
    let mut config = Config {
        payout_address: "bcrt1qexample".into(),
        ..Config::default()
    };
    // The offers carry no disk: the proxy runs without its persistent volume (with one, the
    // first offer only reserves and creates it, and no proxy is launched).
    config.proxy.volume.enabled = false;
    let event: Vec<Offer> = (0..AGENTS).map(offer).collect();
    let base = book_with_running_proxy(&config);
    let mut group = c.benchmark_group("plan_offers");
    group.sample_size(10);
    group.bench_function("10k_offers_10k_agents", |b| {
        b.iter_batched(
            || base.clone(),
            |mut book| {
                let decisions = plan_offers(&config, &mut book, &event, 2);
                assert_eq!(book.tasks().count(), AGENTS + 1);
                decisions.len()
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

// `criterion_group!` makes a `pub fn benches()`, which cannot carry a doc comment: in a
// private module it is not part of the file's public items.
mod group {
    criterion::criterion_group!(benches, super::offers);
}
criterion_main!(group::benches);
