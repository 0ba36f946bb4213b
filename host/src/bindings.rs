//! Host bindings for the Spin interfaces in `wit/` that wasmtime-wasi does not provide.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "cp:host/spin-imports",
    imports: { default: async | trappable },
    anyhow: true,
    with: {
        "spin:postgres/postgres.connection": crate::postgres::Connection,
    },
});

pub(crate) use fermyon::spin::variables;
pub(crate) use spin::postgres::postgres;
