//! The catalog: MCP servers with grants and brokered credentials, groups with members and awareness grants, third-party sources with their items.

pub mod api;

pub use api::Catalog;
