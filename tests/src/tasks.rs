//! What the tests read of the scheduler's tasks: which run, of which kind,
//! on which devcluster agent.

use crate::stack::Stack;

/// The index of a devcluster agent from its id (`<master>-S<index>`, or
/// `<master>-S<index>-<n>` once re-registered after maintenance).
pub fn agent_index(agent_id: &str) -> usize {
    let (_, rest) = agent_id.rsplit_once("-S").expect("a devcluster agent id");
    rest.split('-')
        .next()
        .unwrap()
        .parse()
        .expect("an agent index")
}

/// `(task id, agent id)` of the RUNNING tasks of `kind` (`proxy`, `miner`).
pub fn running(stack: &Stack, kind: &str) -> Vec<(String, String)> {
    stack
        .tasks_on_agents()
        .into_iter()
        .filter(|(_, k, _, state)| k == kind && state == "RUNNING")
        .map(|(id, _, agent, _)| (id, agent))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn agent_indices_of_fresh_and_reregistered_agents() {
        assert_eq!(super::agent_index("0b1c-S2"), 2);
        assert_eq!(super::agent_index("0b1c-S11-7"), 11);
    }
}
