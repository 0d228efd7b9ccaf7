//! The guest's `wasi:sockets/ip-name-lookup`, answered by the host from its
//! own resolution of the connector's endpoints (SPEC § Security): no DNS
//! query ever leaves on a guest's behalf, so lookups are no channel out.
//! A name the connector was not granted is refused and named in its error;
//! an IP literal is answered as itself (it reveals nothing, and the connect
//! check still decides).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddress};
use wasmtime_wasi::p2::{DynPollable, Network, Pollable};

use crate::sandbox::host_api::HostState;
use crate::sandbox::untrusted;

/// The interface this module stands in for; the linker serves every 0.2.x
/// import of it with this definition.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// The names a connector may look up, each with the addresses the host
/// resolved it to before the instance started.
#[derive(Debug, Clone, Default)]
pub struct NameGrants(HashMap<String, Vec<IpAddr>>);

impl NameGrants {
    /// Records that `host` resolved to `addrs`.
    pub fn add(&mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) {
        let entry = self.0.entry(host_key(host)).or_default();
        for a in addrs {
            if !entry.contains(&a) {
                entry.push(a);
            }
        }
    }

    /// The answer to a guest's lookup of `name`: `None` when refused.
    pub fn answer(&self, name: &str) -> Option<Vec<IpAddr>> {
        let key = host_key(name);
        if let Ok(ip) = key.parse::<IpAddr>() {
            return Some(vec![ip]);
        }
        self.0.get(&key).cloned()
    }
}

/// The one spelling of a host: DNS names are case-insensitive, a trailing
/// dot names the same host, and an IPv6 literal loses its brackets.
pub(crate) fn host_key(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// One lookup's answer, read by the guest one address at a time.
pub(crate) struct Answer(std::vec::IntoIter<IpAddr>);

impl Pollable for Answer {
    // Written out (not `#[async_trait]`): the answer is ready at once.
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

/// Replaces wasmtime-wasi's `ip-name-lookup` (which asks the system
/// resolver) with [`NameGrants::answer`].
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut inst = linker.instance(INTERFACE)?;
    inst.resource("resolve-address-stream", ResourceType::host::<Answer>(), |mut store, rep| {
        store.data_mut().table.delete(Resource::<Answer>::new_own(rep))?;
        Ok(())
    })?;
    inst.func_wrap("resolve-addresses", |mut store, (network, name): (Resource<Network>, String)| {
        let s = store.data_mut();
        // The network resource is the capability to look up at all.
        s.table.get(&network)?;
        let Some(addrs) = s.names.answer(&name) else {
            s.refuse(format!("name lookup of `{}`", untrusted::sanitize(&name, untrusted::MAX_NAME_BYTES)));
            return Ok((Err(ErrorCode::PermanentResolverFailure),));
        };
        Ok((Ok(s.table.push(Answer(addrs.into_iter()))?),))
    })?;
    inst.func_wrap("[method]resolve-address-stream.resolve-next-address", |mut store, (answer,): (Resource<Answer>,)| {
        let next = store.data_mut().table.get_mut(&answer)?.0.next();
        Ok((Ok::<Option<IpAddress>, ErrorCode>(next.map(IpAddress::from)),))
    })?;
    inst.func_wrap("[method]resolve-address-stream.subscribe", |mut store, (answer,): (Resource<Answer>,)| {
        let pollable: Resource<DynPollable> = wasmtime_wasi::p2::subscribe(&mut store.data_mut().table, answer)?;
        Ok((pollable,))
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_names_and_literals_are_answered() {
        let mut g = NameGrants::default();
        g.add("DB.internal.", ["10.0.0.5".parse().unwrap()]);
        assert_eq!(g.answer("db.INTERNAL").unwrap(), vec!["10.0.0.5".parse::<IpAddr>().unwrap()]);
        assert_eq!(g.answer("db.internal.").unwrap().len(), 1);
        assert_eq!(g.answer("127.0.0.1").unwrap(), vec!["127.0.0.1".parse::<IpAddr>().unwrap()]);
        assert_eq!(g.answer("[::1]").unwrap(), vec!["::1".parse::<IpAddr>().unwrap()]);
        assert!(g.answer("evil.example").is_none());
        assert!(g.answer("internal").is_none(), "no suffix or search-domain matching");
    }
}
