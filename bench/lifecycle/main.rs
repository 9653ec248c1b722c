//! What making and dropping one instance of a component costs in Wasmtime alone: no server, no
//! request, no call. The engine and pool are configured as Tessera configures them
//! (`crates/runtime/src/engine.rs`); the component's imports are left as traps, since nothing
//! is called. Built by bench/lifecycle.sh against several Wasmtime versions, so that one
//! version's instance lifecycle can be compared with another's on the same machine.
//!
//!   lifecycle COMPONENT.wasm [N]   prints ns per make + drop, N instances, three rounds

use std::time::Instant;

use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};

fn main() -> wasmtime::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or_else(|| wasmtime::format_err!("usage: lifecycle COMPONENT.wasm [N]"))?;
    let n: u32 = match args.next() {
        Some(n) => n.parse()?,
        None => 50_000,
    };

    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .total_stacks(1000)
        .max_core_instances_per_component(20)
        .max_memories_per_component(20)
        .max_tables_per_component(20)
        .max_memory_size(256 << 20)
        .linear_memory_keep_resident(2 << 20)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .concurrency_support(false)
        .epoch_interruption(true)
        .memory_init_cow(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &path)?;
    let mut linker: Linker<()> = Linker::new(&engine);
    linker.define_unknown_imports_as_traps(&component)?;
    let pre = linker.instantiate_pre(&component)?;

    for round in 1..=3 {
        let start = Instant::now();
        for _ in 0..n {
            let mut store = Store::new(&engine, ());
            store.set_epoch_deadline(1);
            std::hint::black_box(pre.instantiate(&mut store)?);
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        println!("round {round}: {ns:.0} ns per instance (make + drop)");
    }
    Ok(())
}
