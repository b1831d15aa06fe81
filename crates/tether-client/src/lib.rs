//! Tether's MCP client: transports (stdio, Streamable HTTP, legacy SSE), sessions, the retry and
//! reconnect policy, and the manager that keeps many servers healthy.

pub mod doctor;
pub mod error;
pub mod session;
pub mod transport;

pub use error::{Error, ErrorClass};
pub use session::{
    ClientHandler, RequestOptions, ServerRequest, Session, SessionEvent, SessionOptions,
};
pub use transport::Target;
pub mod manager;
pub mod policy;
pub mod spec;
pub mod status;
pub mod timeouts;

mod sync;

pub use manager::{CallOptions, Manager, ManagerEvent, ManagerOptions};
pub use spec::ServerSpec;
pub use status::{ServerStatus, State};
