//! Spin component for the `agents` route group: Spin's request goes through
//! the shared pipeline (`cp_platform::spin::serve`) to the group's handlers.

// `#[http_component]` generates the unsafe Wasm export glue.
#![allow(unsafe_code)]

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
async fn handle(req: Request) -> Response {
    cp_platform::spin::serve::<cp_agents::Agents, cp_auth::Credentials>(req).await
}
