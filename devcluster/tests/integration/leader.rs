//! Master high availability as a scheduler sees it: devcluster on several
//! addresses, the leadership moving and the old leader's address going
//! dark. A scheduler client that learnt the old leader from a redirect must
//! find its way back through the configured masters.

use std::net::SocketAddr;

use crate::common::*;
use mesos::client::{ClientConfig, SchedulerClient};
use mesos::v1::scheduler::event;

/// Waits until the event stream ends (the master dropped it).
async fn until_closed(sched: &mut Sched) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, sched.events.next()).await {
            Ok(Some(Ok(_))) => {}
            Ok(None | Some(Err(_))) => return,
            Err(_) => panic!("the stream did not end"),
        }
    }
}

fn port_of(client: &SchedulerClient) -> Option<u16> {
    client.endpoint().port_u16()
}

/// `masters` addresses; the client is configured with `configured` of them
/// (indices). It subscribes through a redirect to master 0, then master 0
/// goes dark and `new_leader` takes over; the framework resubscribes with
/// its id on the same client.
async fn leader_moves(masters: usize, configured: &[usize], new_leader: usize) {
    let harness = start_with(1, 1.0, 256.0, (31000, 31001), |config| {
        config.masters = masters;
    })
    .await;
    let addrs = harness.cluster.master_addrs();
    assert_eq!(addrs.len(), masters);
    assert_eq!(harness.cluster.master_addr(), addrs[0]);
    let urls: Vec<String> = configured.iter().map(|&i| addrs[i].to_string()).collect();
    let client = SchedulerClient::with_masters(&urls, ClientConfig::default()).unwrap();

    let mut sched = subscribe(&client, None, 3600.0).await;
    assert_eq!(
        port_of(&client),
        Some(addrs[0].port()),
        "redirected to the leader"
    );
    let framework_id = sched.framework_id.clone();

    harness.cluster.move_leader(new_leader).unwrap();
    harness.cluster.stop_master(0).unwrap();
    until_closed(&mut sched).await;
    assert!(
        tokio::net::TcpStream::connect(addrs[0]).await.is_err(),
        "the old leader's address is dark"
    );
    assert_eq!(harness.cluster.master_addr(), addrs[new_leader]);

    // The same client (it remembers master 0) resubscribes as the framework.
    let mut sched = tokio::time::timeout(PATIENCE, subscribe(&client, Some(&framework_id), 3600.0))
        .await
        .expect("resubscribed in time");
    assert_eq!(sched.framework_id, framework_id);
    assert_eq!(port_of(&client), Some(addrs[new_leader].port()));
    // The new leader serves it: offers come, calls are accepted.
    let offers = sched.offers().await;
    assert!(!offers.is_empty());
    sched
        .decline(offers.iter().map(|offer| offer.id.clone()).collect(), 1.0)
        .await;
}

#[tokio::test]
async fn two_addresses_the_configured_one_takes_over() {
    // Configured: master 1 only, which first redirects to master 0.
    leader_moves(2, &[1], 1).await;
}

#[tokio::test]
async fn a_standby_redirects_to_the_new_leader() {
    // Configured: master 2, a standby throughout; the new leader is master 1,
    // found through master 2's redirect.
    leader_moves(3, &[2], 1).await;
}

#[tokio::test]
async fn standbys_redirect_and_answer_503_without_a_leader() {
    let harness = start_with(1, 1.0, 256.0, (31000, 31001), |config| {
        config.masters = 2;
    })
    .await;
    let addrs: Vec<SocketAddr> = harness.cluster.master_addrs();
    let client = SchedulerClient::new(&addrs[1].to_string(), ClientConfig::default()).unwrap();
    let mut sched = subscribe(&client, None, 3600.0).await;
    sched
        .expect("HEARTBEAT", |e| e.r#type() == event::Type::Heartbeat)
        .await;

    // The leader goes dark and nobody takes over: the standby says so.
    harness.cluster.stop_master(0).unwrap();
    until_closed(&mut sched).await;
    let standby = SchedulerClient::new(&addrs[1].to_string(), ClientConfig::default()).unwrap();
    let error = standby
        .subscribe(&subscribe_call(None, 0.0))
        .await
        .unwrap_err();
    assert_eq!(
        error.status(),
        Some(http::StatusCode::SERVICE_UNAVAILABLE),
        "{error}"
    );
    assert!(matches!(
        harness.cluster.stop_master(5),
        Err(devcluster::Error::UnknownMaster(5))
    ));
    assert!(harness.cluster.move_leader(2).is_err());
}
