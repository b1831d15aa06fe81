//! Integration tests over real processes, pipes and sockets on 127.0.0.1: the client against the
//! fault-injecting server, the manager's policy (one test per row of CONTRACT §3), and the CLI.
//! One test binary, so the stack links once.

mod cli;
mod doctor;
mod gateway;
mod http;
mod policy;
mod stdio;
mod support;
