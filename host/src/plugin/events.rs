//! Contract 0.2's `handle` export, called with the host's own lowering of the events
//! (the answer is lifted by the generated bindings): the same WIT types as the
//! generated ones, but for `connection.attachment`, whose empty list (nearly every
//! event's) is lowered without a call into the plugin.
//!
//! wasmtime lowers every `list` by calling the plugin's `cabi_realloc` first, even
//! for no bytes: at 16 messages per write that call was ~350 of the ~6,500
//! instructions each echoed message cost (README, Performance). For a list of
//! length 0 the canonical ABI asks only for a pointer aligned for its elements;
//! `cabi_realloc(0, 0, 1, 0)` of wit-bindgen answers 1 (the alignment), and so does
//! this lowering, without the call. Any other list is lowered as wasmtime does.
//!
//! Whether these types match the plugin's WIT is checked when an instance starts
//! (`get_typed_func` type-checks them against the component): a mismatch refuses
//! the plugin, it never lowers a wrong layout.
//!
//! With `packed`'s typed call, the only `unsafe` of the host, and the only use of wasmtime's hidden
//! (`__internal`, `#[doc(hidden)]`) traits' items: what the derive macros implement
//! for every type, written out for one. A wasmtime upgrade that changes them fails
//! to compile here; `tests/gateway/rooms.rs` sees an empty and a set attachment
//! arrive as they are.

#![allow(unsafe_code)]

use std::mem::MaybeUninit;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{
    ComponentExportIndex, ComponentType, Func, Instance, InstancePre, Lower, TypedFunc,
};
use wasmtime::{AsContextMut, Store};

use super::bindings::v0_2::types;
use crate::model::{ConnContext, ConnId, Event as HostEvent};

/// A connection's attachment, as `list<u8>`: lowered without a call into the plugin
/// when it is empty.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attachment<'a>(pub(crate) &'a [u8]);

/// The pointer an empty `list<u8>` is lowered with: aligned for `u8` (what
/// wit-bindgen's `cabi_realloc` answers for no bytes).
const EMPTY_LIST_PTR: u32 = 1;

// SAFETY: the layout, the flat form and the type check are those of `[u8]`, which
// this type lowers as (below) or delegates to.
unsafe impl ComponentType for Attachment<'_> {
    type Lower = <[u8] as ComponentType>::Lower;

    const ABI: CanonicalAbiInfo = <[u8] as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[u8] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: an empty list is written as wasmtime writes a list (a 32-bit pointer and
// a 32-bit length, little-endian, in memory; two values flat), any other is lowered
// by `[u8]`'s own implementation.
unsafe impl Lower for Attachment<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        dst: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        if !self.0.is_empty() {
            return self.0.linear_lower_to_flat(cx, ty, dst);
        }
        // As wasmtime stores a pointer pair flat: two 64-bit values.
        dst.write([ValRaw::i64(i64::from(EMPTY_LIST_PTR)), ValRaw::i64(0)]);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        if !self.0.is_empty() {
            return self.0.linear_lower_to_memory(cx, ty, offset);
        }
        let pair = cx.get::<8>(offset);
        pair[..4].copy_from_slice(&EMPTY_LIST_PTR.to_le_bytes());
        pair[4..].copy_from_slice(&0u32.to_le_bytes());
        Ok(())
    }
}

/// `connection`.
#[derive(ComponentType, Lower, Clone, Copy, Debug)]
#[component(record)]
pub(crate) struct Connection<'a> {
    #[component(name = "id")]
    pub(crate) id: u64,
    #[component(name = "user")]
    pub(crate) user: Option<&'a str>,
    #[component(name = "attachment")]
    pub(crate) attachment: Attachment<'a>,
}

/// `message-event`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct MessageEvent<'a> {
    #[component(name = "conn")]
    pub(crate) conn: Connection<'a>,
    #[component(name = "text")]
    pub(crate) text: &'a str,
}

/// `binary-event`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct BinaryEvent<'a> {
    #[component(name = "conn")]
    pub(crate) conn: Connection<'a>,
    #[component(name = "data")]
    pub(crate) data: &'a [u8],
}

/// `error-event`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct ErrorEvent<'a> {
    #[component(name = "conn")]
    pub(crate) conn: Connection<'a>,
    #[component(name = "error")]
    pub(crate) error: types::ConnectionError<'a>,
}

/// `close-event`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(record)]
pub(crate) struct CloseEvent<'a> {
    #[component(name = "conn")]
    pub(crate) conn: Connection<'a>,
    #[component(name = "code")]
    pub(crate) code: u16,
    #[component(name = "reason")]
    pub(crate) reason: &'a str,
}

/// `event`.
#[derive(ComponentType, Lower, Clone, Debug)]
#[component(variant)]
pub(crate) enum Event<'a> {
    #[component(name = "connect")]
    Connect(Connection<'a>),
    #[component(name = "message")]
    Message(MessageEvent<'a>),
    #[component(name = "binary")]
    Binary(BinaryEvent<'a>),
    #[component(name = "error")]
    Error(ErrorEvent<'a>),
    #[component(name = "close")]
    Close(CloseEvent<'a>),
    #[component(name = "timer")]
    Timer(types::TimerEvent<'a>),
    #[component(name = "backend")]
    Backend(types::BackendEvent<'a>),
}

/// The signature of `handle`, with these types.
type Signature<'a> = (&'a [Event<'a>],);

/// Where `component` exports `function` of the interface `interface`, if it does
/// (looked up once, when the plugin loads; `handle` here, `packed`'s too).
pub(crate) fn export_index<T>(
    pre: &InstancePre<T>,
    interface: &str,
    function: &str,
) -> Option<ComponentExportIndex> {
    let component = pre.component();
    let (_, interface) = component.get_export(None, interface)?;
    let (_, index) = component.get_export(Some(&interface), function)?;
    Some(index)
}

/// An instance's `handle` export, type-checked against these types.
#[derive(Clone, Copy)]
pub(crate) struct Handle(Func);

impl Handle {
    /// `handle` of `instance`, checked against the types above.
    ///
    /// # Errors
    /// If the component has no such export or its types differ from these.
    pub(crate) fn new<T>(
        store: &mut Store<T>,
        instance: &Instance,
        index: &ComponentExportIndex,
    ) -> wasmtime::Result<Self> {
        let typed =
            instance.get_typed_func::<Signature<'_>, (Vec<types::Command>,)>(&mut *store, index)?;
        Ok(Self(*typed.func()))
    }

    /// Calls `handle` with `events`.
    ///
    /// # Errors
    /// What the call trapped with.
    pub(crate) fn call<T>(
        self,
        store: impl AsContextMut<Data = T>,
        events: &[Event<'_>],
    ) -> wasmtime::Result<Vec<types::Command>> {
        // SAFETY: `new` checked this very signature against the component.
        let typed =
            unsafe { TypedFunc::<(&[Event<'_>],), (Vec<types::Command>,)>::new_unchecked(self.0) };
        typed.call(store, (events,)).map(|(commands,)| commands)
    }
}

/// The connection as events show it: its id, user and attachment, borrowed from
/// what the host holds (nothing is copied on the host's side).
fn connection(id: ConnId, ctx: Option<&ConnContext>) -> Connection<'_> {
    Connection {
        id,
        user: ctx.and_then(|c| c.user.as_deref()),
        attachment: Attachment(ctx.map_or(&[][..], |c| &c.attachment[..])),
    }
}

/// The 0.2 event for `event`, with the connection's context; it borrows both.
pub(crate) fn event<'a>(event: &'a HostEvent, ctx: Option<&'a ConnContext>) -> Event<'a> {
    match event {
        HostEvent::Connect { conn } => Event::Connect(connection(*conn, ctx)),
        HostEvent::Text { conn, text } => Event::Message(MessageEvent {
            conn: connection(*conn, ctx),
            text: text.as_str(),
        }),
        HostEvent::Binary { conn, data } => Event::Binary(BinaryEvent {
            conn: connection(*conn, ctx),
            data,
        }),
        HostEvent::Error { conn, error } => Event::Error(ErrorEvent {
            conn: connection(*conn, ctx),
            error: super::convert::v0_2::error(error),
        }),
        HostEvent::Close { conn, code, reason } => Event::Close(CloseEvent {
            conn: connection(*conn, ctx),
            code: *code,
            reason,
        }),
        HostEvent::Timer { key, data } => Event::Timer(types::TimerEvent { key, data }),
        HostEvent::Backend { name, payload } => {
            Event::Backend(types::BackendEvent { name, payload })
        }
    }
}
