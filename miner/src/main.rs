//! The `miner` binary; see [`cli`] for its commands.

mod cli;

fn main() -> anyhow::Result<()> {
    cli::main()
}
