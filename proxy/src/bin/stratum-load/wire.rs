//! The stratum lines the generator writes (the handshake, submits) and what it reads from the
//! pool's lines. Notifies are only looked at for their job id here ([`notify_job_id`], no JSON
//! parse): ten thousand connections get every job, and the generator shares the cores with
//! the proxy. Everything else goes through the `stratum` crate's types.

use std::collections::BTreeMap;
use stratum::{ClientRequest, Id, Message, Response, ResponseError, Submit};

/// Request id of `mining.subscribe`.
pub const SUBSCRIBE_ID: i64 = 1;
/// Request id of `mining.authorize`.
pub const AUTHORIZE_ID: i64 = 2;
/// Request id of `mining.suggest_difficulty`.
pub const SUGGEST_ID: i64 = 3;
/// Submits are numbered from here.
pub const FIRST_SUBMIT_ID: i64 = 100;

/// The handshake: subscribe, then (when given) the difficulty suggested, then authorize. The
/// suggestion comes before the authorize so that the first job is already sent at it (the
/// pool announces a difficulty with the job after it).
pub fn hello(agent: &str, user: &str, suggest: Option<f64>) -> String {
    let mut calls = vec![(
        SUBSCRIBE_ID,
        ClientRequest::Subscribe(stratum::Subscribe {
            user_agent: Some(agent.to_owned()),
            session_id: None,
        }),
    )];
    if let Some(d) = suggest {
        calls.push((SUGGEST_ID, ClientRequest::SuggestDifficulty(d)));
    }
    calls.push((
        AUTHORIZE_ID,
        ClientRequest::Authorize(stratum::Authorize {
            username: user.to_owned(),
            password: Some("x".into()),
        }),
    ));
    calls
        .into_iter()
        .map(|(id, call)| line(Message::from(call.into_request(Id::Num(id)))))
        .collect()
}

/// A `mining.submit` line with request id `id`.
pub fn submit_line(id: i64, submit: Submit) -> String {
    line(Message::from(
        ClientRequest::Submit(submit).into_request(Id::Num(id)),
    ))
}

fn line(message: Message) -> String {
    let mut line = message.to_line();
    line.push('\n');
    line
}

/// The job id of a `mining.notify` line (its first param), found without parsing the line;
/// `None` for other lines. The subscribe answer names `mining.notify` too, but as a response it
/// has a `result`, which a notify (hex, numbers, booleans) cannot hold.
pub fn notify_job_id(line: &str) -> Option<&str> {
    if !line.contains("\"mining.notify\"") || line.contains("\"result\"") {
        return None;
    }
    let start = line.find("\"params\":[\"")? + "\"params\":[\"".len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// How the pool answered a submit: `accepted`, or the stratum error code (`21` stale or
/// unknown job, `22` duplicate, `23` low difficulty, `20` other, e.g. rate-limited), or
/// `unreadable`.
pub fn outcome(response: &Response) -> String {
    match response.bool_result() {
        Ok(true) => "accepted".into(),
        Ok(false) => "false".into(),
        Err(ResponseError::Remote(e)) => e.code.to_string(),
        Err(ResponseError::Parse(_)) => "unreadable".into(),
    }
}

/// Counts by outcome, as reported.
pub type Outcomes = BTreeMap<String, u64>;

/// The request id of a response, when it is a number.
pub fn response_id(response: &Response) -> Option<i64> {
    match response.id {
        Some(Id::Num(n)) => Some(n),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Message {
        Message::from_line(line).unwrap()
    }

    #[test]
    fn job_ids_are_read_from_notify_lines_only() {
        let line = r#"{"id":null,"method":"mining.notify","params":["1f",["ab"],true]}"#;
        assert_eq!(notify_job_id(line), Some("1f"));
        assert_eq!(
            notify_job_id(r#"{"method":"mining.notify","params":[]}"#),
            None
        );
        let subscribed = r#"{"id":1,"result":[[["mining.set_difficulty","0a"],["mining.notify","0a"]],"0000000a",4],"error":null}"#;
        assert_eq!(notify_job_id(subscribed), None);
        let difficulty = r#"{"id":null,"method":"mining.set_difficulty","params":["1"]}"#;
        assert_eq!(notify_job_id(difficulty), None);
    }

    #[test]
    fn the_handshake_suggests_before_it_authorizes() {
        let hello = hello("stratum-load", "addr.w", Some(0.5));
        let lines: Vec<&str> = hello.lines().collect();
        assert_eq!(lines.len(), 3);
        let methods: Vec<String> = lines
            .iter()
            .map(|l| parse(l).method().unwrap().to_owned())
            .collect();
        assert_eq!(
            methods,
            [
                "mining.subscribe",
                "mining.suggest_difficulty",
                "mining.authorize"
            ]
        );
        assert!(lines[1].contains("[0.5]"), "{}", lines[1]);
        assert_eq!(super::hello("a", "u", None).lines().count(), 2);
    }

    #[test]
    fn outcomes_by_code() {
        let Message::Response(ok) = parse(r#"{"id":100,"result":true,"error":null}"#) else {
            panic!()
        };
        assert_eq!(outcome(&ok), "accepted");
        assert_eq!(response_id(&ok), Some(100));
        let Message::Response(stale) =
            parse(r#"{"id":101,"result":null,"error":[21,"job not found (stale)",null]}"#)
        else {
            panic!()
        };
        assert_eq!(outcome(&stale), "21");
        let submit = Submit {
            worker: "w".into(),
            job_id: "3".into(),
            extranonce2: vec![0, 0, 0, 1],
            ntime: 0x6000_0000,
            nonce: 0xdead_beef,
            version_bits: None,
        };
        let line = submit_line(104, submit.clone());
        assert!(line.ends_with('\n'));
        let Message::Request(req) = parse(&line) else {
            panic!()
        };
        assert_eq!(req.id, Id::Num(104));
        assert_eq!(
            ClientRequest::from_request(&req).unwrap(),
            ClientRequest::Submit(submit)
        );
    }
}
