//! Functions run as Lambda runs them, each its deployed binary as its own process: the Runtime
//! API the runner serves (`api`), a process per function started with Lambda's environment and
//! restarted past its timeout (`process`), and the binaries built once (`build`).
pub mod api;
pub mod build;
pub mod process;
