//! A minimal framework for tests: it subscribes over the real scheduler API
//! (to devcluster or a Mesos master) and makes the calls and waits tests
//! need: offers, updates, acknowledgements, launch, kill, reconcile. Used by
//! devcluster's own tests and by the executor's. Its methods panic on any
//! failure or when an expected event does not come within [`PATIENCE`]:
//! they are for tests only.

use std::time::Duration;

use mesos::client::{EventStream, SchedulerClient};
use mesos::v1::scheduler::{call, event, Call, Event};
use mesos::v1::{
    AgentId, FrameworkId, FrameworkInfo, KillPolicy, Offer, OfferId, TaskId, TaskInfo, TaskStatus,
};

/// How long any expected event may take.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A subscribed framework and its event stream.
pub struct TestFramework {
    /// The client it calls with.
    pub client: SchedulerClient,
    /// `Mesos-Stream-Id` of its subscription.
    pub stream_id: String,
    /// Its framework id.
    pub framework_id: String,
    /// Events after SUBSCRIBED.
    pub events: EventStream<Event>,
}

/// The SUBSCRIBE call for `info` (its `id`, if set, is the failover id).
pub fn subscribe_call(info: FrameworkInfo) -> Call {
    Call {
        framework_id: info.id.clone(),
        r#type: Some(call::Type::Subscribe as i32),
        subscribe: Some(call::Subscribe {
            framework_info: info,
            suppressed_roles: vec![],
        }),
        ..Default::default()
    }
}

impl TestFramework {
    /// Subscribes as `info` and waits for SUBSCRIBED.
    pub async fn subscribe(client: &SchedulerClient, info: FrameworkInfo) -> Self {
        let mut subscription = client.subscribe(&subscribe_call(info)).await.unwrap();
        let first = tokio::time::timeout(PATIENCE, subscription.events.next())
            .await
            .expect("SUBSCRIBED in time")
            .expect("stream open")
            .unwrap();
        assert_eq!(first.r#type(), event::Type::Subscribed, "{first:?}");
        let subscribed = first.subscribed.unwrap();
        Self {
            client: client.clone(),
            stream_id: subscription.stream_id,
            framework_id: subscribed.framework_id.value,
            events: subscription.events,
        }
    }

    /// A call of this framework, of type `kind`.
    pub fn base(&self, kind: call::Type) -> Call {
        Call {
            framework_id: Some(FrameworkId {
                value: self.framework_id.clone(),
            }),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    /// Sends a call; panics if the master refuses it.
    pub async fn send(&self, call: Call) {
        self.client.call(&self.stream_id, &call).await.unwrap();
    }

    /// The next event `matches` accepts, skipping others.
    pub async fn expect(&mut self, what: &str, matches: impl Fn(&Event) -> bool) -> Event {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.next())
                .await
                .unwrap_or_else(|_| panic!("no {what} in time"))
                .unwrap_or_else(|| panic!("stream ended before {what}"))
                .unwrap();
            if matches(&event) {
                return event;
            }
        }
    }

    /// Asserts no event `matches` accepts arrives within `window`.
    pub async fn expect_none(&mut self, window: Duration, matches: impl Fn(&Event) -> bool) {
        let deadline = tokio::time::Instant::now() + window;
        while let Ok(event) = tokio::time::timeout_at(deadline, self.events.next()).await {
            let event = event.expect("stream open").unwrap();
            assert!(!matches(&event), "unexpected event {event:?}");
        }
    }

    /// The next OFFERS event's offers.
    pub async fn offers(&mut self) -> Vec<Offer> {
        self.expect("OFFERS", |event| event.r#type() == event::Type::Offers)
            .await
            .offers
            .unwrap()
            .offers
    }

    /// The next UPDATE for `task_id`.
    pub async fn update(&mut self, task_id: &str) -> TaskStatus {
        let task_id = task_id.to_owned();
        self.expect(&format!("UPDATE for {task_id}"), move |event| {
            event.r#type() == event::Type::Update
                && event.update.as_ref().unwrap().status.task_id.value == task_id
        })
        .await
        .update
        .unwrap()
        .status
    }

    /// ACKNOWLEDGE of an update.
    pub async fn acknowledge(&self, status: &TaskStatus) {
        let mut call = self.base(call::Type::Acknowledge);
        call.acknowledge = Some(call::Acknowledge {
            agent_id: status.agent_id.clone().unwrap(),
            task_id: status.task_id.clone(),
            uuid: status.uuid.clone().unwrap(),
        });
        self.send(call).await;
    }

    /// DECLINE with a refuse filter.
    pub async fn decline(&self, offer_ids: Vec<OfferId>, refuse_seconds: f64) {
        let mut call = self.base(call::Type::Decline);
        call.decline = Some(call::Decline {
            offer_ids,
            filters: Some(mesos::v1::Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        });
        self.send(call).await;
    }

    /// ACCEPT with one LAUNCH; unused resources are not filtered.
    pub async fn launch(&self, offer_ids: Vec<OfferId>, tasks: Vec<TaskInfo>) {
        self.launch_with(offer_ids, tasks, 0.0).await;
    }

    /// ACCEPT with one LAUNCH; unused resources are refused for `refuse_seconds`.
    pub async fn launch_with(
        &self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        refuse_seconds: f64,
    ) {
        let mut call = self.base(call::Type::Accept);
        call.accept = Some(call::Accept {
            offer_ids,
            operations: vec![mesos::v1::offer::Operation {
                r#type: Some(mesos::v1::offer::operation::Type::Launch as i32),
                launch: Some(mesos::v1::offer::operation::Launch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: Some(mesos::v1::Filters {
                refuse_seconds: Some(refuse_seconds),
            }),
        });
        self.send(call).await;
    }

    /// KILL, with a grace period overriding the task's kill policy if given.
    pub async fn kill(&self, task_id: &str, agent_id: &AgentId, grace: Option<Duration>) {
        let mut call = self.base(call::Type::Kill);
        call.kill = Some(call::Kill {
            task_id: TaskId {
                value: task_id.into(),
            },
            agent_id: Some(agent_id.clone()),
            kill_policy: grace.map(|grace| KillPolicy {
                grace_period: Some(grace.into()),
            }),
        });
        self.send(call).await;
    }

    /// Explicit RECONCILE of these tasks.
    pub async fn reconcile(&self, tasks: &[&str]) {
        let mut call = self.base(call::Type::Reconcile);
        call.reconcile = Some(call::Reconcile {
            tasks: tasks
                .iter()
                .map(|task| call::reconcile::Task {
                    task_id: TaskId {
                        value: (*task).into(),
                    },
                    agent_id: None,
                })
                .collect(),
        });
        self.send(call).await;
    }
}

/// One HTTP/1.0 request with a JSON `body` (the connection closes after it), blocking: the
/// status code (0 if none could be read) and the body. For operator endpoints and the like.
pub fn http_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).expect("connecting");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("writing the request");
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (code, body)
}
