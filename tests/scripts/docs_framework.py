#!/usr/bin/env python3
"""A Mesos framework written only from Mesos' documentation (the v1 scheduler
HTTP API, scheduler-http-api.md), speaking protobuf over HTTP: it subscribes,
launches command tasks, acknowledges every update, reconciles, declines with
a filter, suppresses and revives. It knows nothing of the project's Rust code;
the Rust test tests/tests/docs_framework.rs runs it against devcluster and
checks the summary it prints (one JSON object on stdout).

Needs Python 3 and the pip packages protobuf and grpcio-tools (protoc for
Python, which compiles the .proto files given with --proto-dir at start).

Usage: docs_framework.py --master HOST:PORT --proto-dir DIR [--timeout SECS]
"""

import argparse
import http.client
import importlib
import json
import os
import queue
import sys
import tempfile
import threading
import time

PROTOBUF = "application/x-protobuf"
PATH = "/api/v1/scheduler"


def compile_protos(proto_dir, out_dir):
    """protoc --python_out for mesos.proto and scheduler.proto."""
    try:
        from grpc_tools import protoc
    except ImportError:
        sys.exit("missing Python package grpcio-tools (pip install protobuf grpcio-tools)")
    files = ["mesos/v1/mesos.proto", "mesos/v1/scheduler/scheduler.proto"]
    args = ["protoc", "-I" + proto_dir, "--python_out=" + out_dir] + files
    if protoc.main(args) != 0:
        sys.exit("protoc failed on " + " ".join(files))
    sys.path.insert(0, out_dir)
    mesos_pb2 = importlib.import_module("mesos.v1.mesos_pb2")
    scheduler_pb2 = importlib.import_module("mesos.v1.scheduler.scheduler_pb2")
    return mesos_pb2, scheduler_pb2


class Scheduler:
    """One SUBSCRIBE stream read by a thread, and calls on their own connection."""

    def __init__(self, master, mesos_pb2, scheduler_pb2):
        self.master = master
        self.mesos = mesos_pb2
        self.sched = scheduler_pb2
        self.events = queue.Queue()
        self.framework_id = None
        self.stream_id = None

    def subscribe(self, name):
        call = self.sched.Call()
        call.type = self.sched.Call.SUBSCRIBE
        info = call.subscribe.framework_info
        info.user = os.environ.get("USER", "nobody") or "nobody"
        info.name = name
        info.capabilities.add().type = self.mesos.FrameworkInfo.Capability.PARTITION_AWARE
        host, port = self.master.split(":")
        self.stream = http.client.HTTPConnection(host, int(port), timeout=60)
        self.stream.request("POST", PATH, call.SerializeToString(),
                            {"Content-Type": PROTOBUF, "Accept": PROTOBUF})
        response = self.stream.getresponse()
        if response.status != 200:
            sys.exit("SUBSCRIBE answered %d: %s" % (response.status, response.read()))
        self.stream_id = response.getheader("Mesos-Stream-Id")
        threading.Thread(target=self._read, args=(response,), daemon=True).start()

    def _read(self, response):
        """RecordIO: '<length>\\n<bytes>' records, one Event each."""
        try:
            while True:
                digits = b""
                while True:
                    byte = response.read(1)
                    if not byte:
                        self.events.put(None)
                        return
                    if byte == b"\n":
                        break
                    digits += byte
                data = response.read(int(digits))
                event = self.sched.Event()
                event.ParseFromString(data)
                self.events.put(event)
        except Exception as error:  # the stream broke: tell the main thread
            self.events.put(error)

    def call(self, call):
        call.framework_id.value = self.framework_id
        host, port = self.master.split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.request("POST", PATH, call.SerializeToString(),
                           {"Content-Type": PROTOBUF, "Accept": PROTOBUF,
                            "Mesos-Stream-Id": self.stream_id})
        response = connection.getresponse()
        body = response.read()
        connection.close()
        if response.status not in (200, 202):
            sys.exit("%s answered %d: %s" % (self.sched.Call.Type.Name(call.type),
                                              response.status, body))
        return response.status

    def next_event(self, timeout):
        """The next event other than HEARTBEAT, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if event is None or isinstance(event, Exception):
                sys.exit("the event stream ended: %r" % (event,))
            if event.type != self.sched.Event.HEARTBEAT:
                return event


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--proto-dir", required=True)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    try:
        import google.protobuf  # noqa: F401
    except ImportError:
        sys.exit("missing Python package protobuf (pip install protobuf grpcio-tools)")
    out_dir = tempfile.mkdtemp(prefix="docs-framework-")
    mesos_pb2, scheduler_pb2 = compile_protos(args.proto_dir, out_dir)
    Call, Event, TaskState = scheduler_pb2.Call, scheduler_pb2.Event, mesos_pb2.TaskState
    scheduler = Scheduler(args.master, mesos_pb2, scheduler_pb2)
    seen = {"updates": [], "reconciled": [], "offers_after_decline": 0,
            "offers_while_suppressed": 0, "offers_after_revive": 0}
    pending_offers = []

    def acknowledge(status):
        if not status.HasField("uuid"):
            return
        call = Call()
        call.type = Call.ACKNOWLEDGE
        call.acknowledge.agent_id.CopyFrom(status.agent_id)
        call.acknowledge.task_id.CopyFrom(status.task_id)
        call.acknowledge.uuid = status.uuid
        scheduler.call(call)

    def record(status):
        entry = {"task": status.task_id.value, "state": TaskState.Name(status.state),
                 "message": status.message,
                 "reason": mesos_pb2.TaskStatus.Reason.Name(status.reason)
                 if status.HasField("reason") else None,
                 "acknowledged": status.HasField("uuid")}
        acknowledge(status)
        return entry

    def wait_for(predicate, what, timeout=args.timeout):
        """Handles events until `predicate(event)` is true; updates are
        recorded and acknowledged, offers kept for later."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = scheduler.next_event(deadline - time.monotonic())
            if event is None:
                break
            if event.type == Event.UPDATE:
                if event.update.status.reason == mesos_pb2.TaskStatus.REASON_RECONCILIATION:
                    seen["reconciled"].append(record(event.update.status))
                else:
                    seen["updates"].append(record(event.update.status))
            elif event.type == Event.OFFERS:
                pending_offers.extend(event.offers.offers)
            elif event.type == Event.ERROR:
                sys.exit("ERROR event: " + event.error.message)
            if predicate(event):
                return event
        sys.exit("timed out waiting for " + what)

    # SUBSCRIBE, then SUBSCRIBED.
    scheduler.subscribe("docs-framework")
    subscribed = wait_for(lambda e: e.type == Event.SUBSCRIBED, "SUBSCRIBED")
    scheduler.framework_id = subscribed.subscribed.framework_id.value
    seen["framework_id"] = scheduler.framework_id
    wait_for(lambda e: e.type == Event.OFFERS, "the first offers")
    offer = pending_offers.pop(0)
    seen["offer_agent"] = offer.agent_id.value

    # LAUNCH three command tasks from one offer: one that succeeds, one that
    # fails and one that runs until killed.
    def command_task(task_id, value):
        task = mesos_pb2.TaskInfo()
        task.name = task_id
        task.task_id.value = task_id
        task.agent_id.CopyFrom(offer.agent_id)
        task.command.value = value
        variable = task.command.environment.variables.add()
        variable.name = "GREETING"
        variable.value = "hello from " + task_id
        for name, amount in (("cpus", 0.1), ("mem", 16.0)):
            resource = task.resources.add()
            resource.name = name
            resource.type = mesos_pb2.Value.SCALAR
            resource.scalar.value = amount
        task.kill_policy.grace_period.nanoseconds = 2 * 10**9
        return task

    launch = Call()
    launch.type = Call.ACCEPT
    launch.accept.offer_ids.add().CopyFrom(offer.id)
    operation = launch.accept.operations.add()
    operation.type = mesos_pb2.Offer.Operation.LAUNCH
    operation.launch.task_infos.extend([
        command_task("ok", 'test "$GREETING" = "hello from ok" && test -n "$MESOS_SANDBOX" '
                           '&& test "$(pwd)" = "$MESOS_SANDBOX"'),
        command_task("fails", "exit 3"),
        command_task("sleeps", "exec sleep 600"),
    ])
    launch.accept.filters.refuse_seconds = 0.0
    scheduler.call(launch)

    def state_of(task_id):
        states = [u["state"] for u in seen["updates"] if u["task"] == task_id]
        return states[-1] if states else None

    wait_for(lambda e: state_of("ok") == "TASK_FINISHED" and state_of("fails") == "TASK_FAILED"
             and state_of("sleeps") == "TASK_RUNNING", "the tasks to finish, fail and run")

    # RECONCILE: implicit (every task the master knows: only the running
    # one, the others are acknowledged and gone), then explicit for a gone one.
    reconcile = Call()
    reconcile.type = Call.RECONCILE
    reconcile.reconcile.SetInParent()  # present, with no tasks: implicit
    scheduler.call(reconcile)
    wait_for(lambda e: any(r["task"] == "sleeps" for r in seen["reconciled"]),
             "implicit reconciliation")
    reconcile = Call()
    reconcile.type = Call.RECONCILE
    wanted = reconcile.reconcile.tasks.add()
    wanted.task_id.value = "ok"
    wanted.agent_id.CopyFrom(offer.agent_id)
    scheduler.call(reconcile)
    wait_for(lambda e: any(r["task"] == "ok" for r in seen["reconciled"]),
             "explicit reconciliation")

    # KILL the running task: SIGTERM, TASK_KILLED.
    kill = Call()
    kill.type = Call.KILL
    kill.kill.task_id.value = "sleeps"
    kill.kill.agent_id.CopyFrom(offer.agent_id)
    scheduler.call(kill)
    wait_for(lambda e: state_of("sleeps") == "TASK_KILLED", "TASK_KILLED")

    # DECLINE every offer with a long filter: none comes back for a while.
    def decline_all(refuse_seconds):
        if not pending_offers:
            return
        decline = Call()
        decline.type = Call.DECLINE
        for pending in pending_offers:
            decline.decline.offer_ids.add().CopyFrom(pending.id)
        decline.decline.filters.refuse_seconds = refuse_seconds
        pending_offers.clear()
        scheduler.call(decline)

    # Offers of what the tasks gave back come in one or more pieces; a
    # filter covers the resources it was declined with, so a piece offered
    # again together with another is declined again, until a quiet spell.
    wait_for(lambda e: e.type == Event.OFFERS, "offers after the tasks ended")
    quiet = 4.0
    for rounds in range(1, 6):
        decline_all(3600.0)
        offered = 0
        deadline = time.monotonic() + quiet
        while time.monotonic() < deadline:
            event = scheduler.next_event(deadline - time.monotonic())
            if event is not None and event.type == Event.OFFERS:
                offered += len(event.offers.offers)
                pending_offers.extend(event.offers.offers)
        seen["decline_rounds"] = rounds
        seen["offers_after_decline"] = offered
        if offered == 0:
            break

    # SUPPRESS, then REVIVE (which also clears the decline filter).
    suppress = Call()
    suppress.type = Call.SUPPRESS
    scheduler.call(suppress)
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline:
        event = scheduler.next_event(deadline - time.monotonic())
        if event is not None and event.type == Event.OFFERS:
            seen["offers_while_suppressed"] += len(event.offers.offers)
    revive = Call()
    revive.type = Call.REVIVE
    scheduler.call(revive)
    revived = wait_for(lambda e: e.type == Event.OFFERS, "offers after REVIVE", timeout=15)
    seen["offers_after_revive"] = len(revived.offers.offers)
    decline_all(5.0)

    teardown = Call()
    teardown.type = Call.TEARDOWN
    scheduler.call(teardown)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
