//! One instance's memory budget (SPEC § Security): the cap holds for the
//! sum of all its linear memories, not for each one, so a component of many
//! core modules (or one module with several memories) gets no more than a
//! single-memory one. Tables are bounded the same way, in elements.

/// A memory growth beyond the instance's cap.
#[derive(Debug, thiserror::Error)]
#[error("memory limit exceeded: the instance asked for {desired} bytes in all, its cap is {cap} bytes")]
pub struct MemoryLimitExceeded {
    /// The cap.
    pub cap: usize,
    /// What its memories would have held together.
    pub desired: usize,
}

/// The most table elements (function references) an instance may hold in
/// all its tables together; far above what compiled Rust needs.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// What an instance's memories and tables hold, against its cap.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    cap: usize,
    /// Bytes of all linear memories together.
    total: usize,
    /// The largest `total` so far.
    peak: usize,
    table_elements: usize,
}

impl MemoryBudget {
    /// A budget of `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self { cap, total: 0, peak: 0, table_elements: 0 }
    }

    /// The most the instance's memories held together.
    pub fn peak(&self) -> usize {
        self.peak
    }
}

impl wasmtime::ResourceLimiter for MemoryBudget {
    // wasmtime calls this for a memory's initial size too (`current` 0), so
    // `total` counts every memory the instance has.
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.total.saturating_sub(current).saturating_add(desired);
        if total > self.cap {
            return Err(MemoryLimitExceeded { cap: self.cap, desired: total }.into());
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.table_elements.saturating_sub(current).saturating_add(desired);
        if total > MAX_TABLE_ELEMENTS {
            return Ok(false);
        }
        self.table_elements = total;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store};

    const PAGE: usize = 64 << 10;

    /// Two memories of 40 pages each: 2.5 MiB apiece, 5 MiB together.
    const TWO_MEMORIES: &str = r#"(module
        (memory (export "a") 40)
        (memory (export "b") 40)
        (func (export "grow_b") (param i32) (result i32) (memory.grow 1 (local.get 0))))"#;

    fn instantiate(cap: usize) -> (Store<MemoryBudget>, wasmtime::Result<Instance>) {
        let engine = Engine::default();
        let module = Module::new(&engine, TWO_MEMORIES).unwrap();
        let mut store = Store::new(&engine, MemoryBudget::new(cap));
        store.limiter(|b| b as &mut dyn wasmtime::ResourceLimiter);
        let instance = Instance::new(&mut store, &module, &[]);
        (store, instance)
    }

    #[test]
    fn the_cap_holds_for_all_memories_together() {
        // Each memory alone is under a 4 MiB cap; both together are not.
        let (_, instance) = instantiate(4 << 20);
        let e = instance.expect_err("two memories above the cap together");
        let m = e.chain().find_map(|e| e.downcast_ref::<MemoryLimitExceeded>()).expect("typed");
        assert_eq!(m.desired, 80 * PAGE);
    }

    #[test]
    fn growth_of_any_memory_counts_against_the_same_cap() {
        let (mut store, instance) = instantiate(80 * PAGE + 8 * PAGE);
        let instance = instance.unwrap();
        assert_eq!(store.data().peak(), 80 * PAGE);
        let grow = instance.get_typed_func::<i32, i32>(&mut store, "grow_b").unwrap();
        assert_eq!(grow.call(&mut store, 8).unwrap(), 40, "room for eight pages more");
        assert!(grow.call(&mut store, 1).is_err(), "one page above the cap");
        assert_eq!(store.data().peak(), 88 * PAGE);
    }
}
