//! [`Env`] and the value helpers.

use std::ffi::{c_void, CStr, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::error::{Error, ErrorKind, Result};
use crate::sys;

/// The most arguments a [`Callback`] sees; extra ones are ignored, missing ones are
/// `undefined` (Node fills them in).
const MAX_ARGS: usize = 8;

/// A JavaScript value: a handle valid in the handle scope it was created in (for the
/// wrapper's users: until the callback returns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value(sys::napi_value);

impl Value {
    /// Wraps a raw handle.
    ///
    /// # Safety
    /// `raw` must be a live handle of the environment it will be used with.
    pub unsafe fn from_raw_unchecked(raw: sys::napi_value) -> Self {
        Value(raw)
    }

    /// Crate-internal constructor for handles Node just gave us.
    pub(crate) fn from_raw(raw: sys::napi_value) -> Self {
        Value(raw)
    }

    /// The raw handle.
    pub fn raw(self) -> sys::napi_value {
        self.0
    }
}

/// `typeof`, as Node-API reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    Undefined,
    Null,
    Boolean,
    Number,
    String,
    Symbol,
    Object,
    Function,
    External,
    BigInt,
}

impl ValueType {
    fn from_raw(t: sys::napi_valuetype) -> Self {
        match t {
            sys::napi_undefined => ValueType::Undefined,
            sys::napi_null => ValueType::Null,
            sys::napi_boolean => ValueType::Boolean,
            sys::napi_number => ValueType::Number,
            sys::napi_string => ValueType::String,
            sys::napi_symbol => ValueType::Symbol,
            sys::napi_function => ValueType::Function,
            sys::napi_external => ValueType::External,
            sys::napi_bigint => ValueType::BigInt,
            _ => ValueType::Object,
        }
    }

    /// The word `typeof` would print, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Undefined => "undefined",
            ValueType::Null => "null",
            ValueType::Boolean => "boolean",
            ValueType::Number => "number",
            ValueType::String => "string",
            ValueType::Symbol => "symbol",
            ValueType::Object => "object",
            ValueType::Function => "function",
            ValueType::External => "external",
            ValueType::BigInt => "bigint",
        }
    }
}

/// What `napi_get_typedarray_info` reports about a typed array.
#[derive(Clone, Copy, Debug)]
pub struct TypedArrayInfo {
    /// `sys::napi_uint8_array`, `sys::napi_float64_array`, …
    pub kind: sys::napi_typedarray_type,
    /// Length in elements.
    pub length: usize,
    /// The first element (already advanced by `byte_offset`); null when detached/empty.
    pub data: *mut u8,
    /// Offset of the view in its ArrayBuffer.
    pub byte_offset: usize,
}

impl TypedArrayInfo {
    /// Size of one element in bytes.
    pub fn element_size(&self) -> usize {
        match self.kind {
            sys::napi_int8_array | sys::napi_uint8_array | sys::napi_uint8_clamped_array => 1,
            sys::napi_int16_array | sys::napi_uint16_array => 2,
            sys::napi_int32_array | sys::napi_uint32_array | sys::napi_float32_array => 4,
            _ => 8,
        }
    }

    /// Length in bytes.
    pub fn byte_length(&self) -> usize {
        self.length * self.element_size()
    }
}

/// A type tag (`napi_type_tag`): proves that an object or external was made by us,
/// so a foreign external cannot be mistaken for ours.
#[derive(Clone, Copy, Debug)]
pub struct TypeTag(sys::napi_type_tag);

impl TypeTag {
    /// A tag from two random 64-bit halves (a UUID, say).
    pub const fn new(lower: u64, upper: u64) -> Self {
        TypeTag(sys::napi_type_tag { lower, upper })
    }
}

/// An async context (`napi_async_init`) for calling JavaScript from a native event
/// (a libuv callback) with [`Env::make_callback`]: async hooks see the call, and
/// microtasks and `process.nextTick` callbacks run when it returns. Destroy it with
/// [`Env::async_destroy`].
#[derive(Clone, Copy, Debug)]
pub struct AsyncContext(sys::napi_async_context);

/// A handle scope, closed on drop: a native callback that Node did not call through
/// Node-API (a libuv callback) has none, and must open one before creating values.
pub struct HandleScope {
    env: sys::napi_env,
    raw: sys::napi_handle_scope,
}

impl HandleScope {
    /// Opens a scope.
    ///
    /// # Safety
    /// On the environment's JavaScript thread, with the environment alive, and dropped
    /// before returning to the event loop (scopes nest strictly).
    pub unsafe fn open(env: Env) -> Result<HandleScope> {
        let mut raw: sys::napi_handle_scope = ptr::null_mut();
        // SAFETY: env is live (caller's contract); `raw` is an out-pointer.
        env.check(unsafe { sys::napi_open_handle_scope(env.raw, &mut raw) })?;
        Ok(HandleScope { env: env.raw, raw })
    }
}

impl Drop for HandleScope {
    fn drop(&mut self) {
        // SAFETY: opened on this env by `open`, closed exactly once, innermost first.
        unsafe { sys::napi_close_handle_scope(self.env, self.raw) };
    }
}

/// A JavaScript-callable Rust function.
pub type Callback = fn(Env, &CallInfo) -> Result<Value>;

/// The arguments of one call.
pub struct CallInfo {
    argv: [sys::napi_value; MAX_ARGS],
    argc: usize,
    this: sys::napi_value,
}

impl CallInfo {
    /// Argument `i`, `undefined` when not passed (for `i < 8`).
    pub fn arg(&self, i: usize) -> Value {
        assert!(
            i < MAX_ARGS,
            "argument index {i} over the limit of {MAX_ARGS}"
        );
        Value(self.argv[i])
    }

    /// How many arguments the caller passed.
    pub fn len(&self) -> usize {
        self.argc
    }

    /// Whether the caller passed none.
    pub fn is_empty(&self) -> bool {
        self.argc == 0
    }

    /// `this`.
    pub fn this(&self) -> Value {
        Value(self.this)
    }
}

/// The environment of one JavaScript thread (main thread or worker thread).
///
/// `Env` is `Copy` but `!Send`: it is only used on its thread, inside calls Node made
/// into the addon (callbacks, finalizers, cleanup hooks, threadsafe-function calls).
#[derive(Clone, Copy, Debug)]
pub struct Env {
    raw: sys::napi_env,
    // Raw pointers already make this !Send/!Sync; say so explicitly anyway.
    _not_send: PhantomData<*mut ()>,
}

impl Env {
    /// Wraps a raw environment.
    ///
    /// # Safety
    /// `raw` must be the live environment Node passed into the current call, and the
    /// `Env` must not be used after that call returns (or on another thread).
    pub unsafe fn from_raw(raw: sys::napi_env) -> Self {
        Env {
            raw,
            _not_send: PhantomData,
        }
    }

    /// The raw environment.
    pub fn raw(self) -> sys::napi_env {
        self.raw
    }

    /// Converts a status into a `Result`, with Node's own message for failures.
    pub fn check(self, status: sys::napi_status) -> Result<()> {
        if status == sys::napi_ok {
            return Ok(());
        }
        let mut info: *const sys::napi_extended_error_info = ptr::null();
        // SAFETY: env is live; `info` is an out-pointer on our stack.
        let detail = unsafe {
            if sys::napi_get_last_error_info(self.raw, &mut info) == sys::napi_ok
                && !info.is_null()
                && !(*info).error_message.is_null()
            {
                Some(
                    CStr::from_ptr((*info).error_message)
                        .to_string_lossy()
                        .into_owned(),
                )
            } else {
                None
            }
        };
        Err(Error::from_status(status, detail))
    }

    fn out(self, f: impl FnOnce(*mut sys::napi_value) -> sys::napi_status) -> Result<Value> {
        let mut v: sys::napi_value = ptr::null_mut();
        self.check(f(&mut v))?;
        Ok(Value(v))
    }

    /// `undefined`.
    pub fn undefined(self) -> Result<Value> {
        // SAFETY: env is live; the out-pointer is valid for the call.
        self.out(|r| unsafe { sys::napi_get_undefined(self.raw, r) })
    }

    /// `null`.
    pub fn null(self) -> Result<Value> {
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_get_null(self.raw, r) })
    }

    /// `globalThis`.
    pub fn global(self) -> Result<Value> {
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_get_global(self.raw, r) })
    }

    /// A boolean.
    pub fn boolean(self, b: bool) -> Result<Value> {
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_get_boolean(self.raw, b, r) })
    }

    /// A number.
    pub fn double(self, x: f64) -> Result<Value> {
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_create_double(self.raw, x, r) })
    }

    /// A string (any UTF-8, NULs included).
    pub fn string(self, s: &str) -> Result<Value> {
        // SAFETY: `s` is valid for `s.len()` bytes during the call, which copies it.
        self.out(|r| unsafe {
            sys::napi_create_string_utf8(self.raw, s.as_ptr().cast(), s.len(), r)
        })
    }

    /// `{}`.
    pub fn object(self) -> Result<Value> {
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_create_object(self.raw, r) })
    }

    /// `new Array(len)`.
    pub fn array(self, len: usize) -> Result<Value> {
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_create_array_with_length(self.raw, len, r) })
    }

    /// An array of strings.
    pub fn string_array<S: AsRef<str>>(self, items: &[S]) -> Result<Value> {
        let arr = self.array(items.len())?;
        for (i, s) in items.iter().enumerate() {
            let v = self.string(s.as_ref())?;
            self.set_element(arr, index_u32(i)?, v)?;
        }
        Ok(arr)
    }

    /// A `Float64Array` holding a copy of `items`.
    pub fn float64_array(self, items: &[f64]) -> Result<Value> {
        let bytes = std::mem::size_of_val(items);
        let mut data: *mut c_void = ptr::null_mut();
        // SAFETY: env is live; out-pointers are valid for the call.
        let ab =
            self.out(|r| unsafe { sys::napi_create_arraybuffer(self.raw, bytes, &mut data, r) })?;
        if bytes > 0 {
            // SAFETY: Node allocated `bytes` bytes at `data` (8-aligned: V8 backing stores
            // are at least 8-aligned); `items` is a distinct Rust allocation.
            unsafe {
                ptr::copy_nonoverlapping(items.as_ptr().cast::<u8>(), data.cast::<u8>(), bytes)
            };
        }
        // SAFETY: `ab` is the ArrayBuffer just created; length/offset fit in it.
        self.out(|r| unsafe {
            sys::napi_create_typedarray(self.raw, sys::napi_float64_array, items.len(), ab.0, 0, r)
        })
    }

    /// `typeof v`.
    pub fn type_of(self, v: Value) -> Result<ValueType> {
        let mut t: sys::napi_valuetype = 0;
        // SAFETY: env is live, `v` a handle of it; `t` is an out-pointer.
        self.check(unsafe { sys::napi_typeof(self.raw, v.0, &mut t) })?;
        Ok(ValueType::from_raw(t))
    }

    /// The number in `v` (an error unless `typeof v === 'number'`).
    pub fn get_f64(self, v: Value) -> Result<f64> {
        let mut x = 0.0;
        // SAFETY: as in `type_of`.
        self.check(unsafe { sys::napi_get_value_double(self.raw, v.0, &mut x) })?;
        Ok(x)
    }

    /// The boolean in `v` (an error unless `typeof v === 'boolean'`).
    pub fn get_bool(self, v: Value) -> Result<bool> {
        let mut b = false;
        // SAFETY: as in `type_of`.
        self.check(unsafe { sys::napi_get_value_bool(self.raw, v.0, &mut b) })?;
        Ok(b)
    }

    /// The string in `v` as UTF-8 (an error unless `typeof v === 'string'`; lone
    /// surrogates become U+FFFD).
    pub fn get_string(self, v: Value) -> Result<String> {
        let mut len = 0usize;
        // SAFETY: a null buffer asks for the length in bytes (without the NUL).
        self.check(unsafe {
            sys::napi_get_value_string_utf8(self.raw, v.0, ptr::null_mut(), 0, &mut len)
        })?;
        let mut buf = vec![0u8; len + 1];
        let mut written = 0usize;
        // SAFETY: `buf` has room for `len` bytes plus the NUL Node writes.
        self.check(unsafe {
            sys::napi_get_value_string_utf8(
                self.raw,
                v.0,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut written,
            )
        })?;
        buf.truncate(written);
        String::from_utf8(buf).map_err(|_| Error::new("Node-API returned invalid UTF-8"))
    }

    /// `obj[name] = v`.
    pub fn set_named(self, obj: Value, name: &str, v: Value) -> Result<()> {
        let name = c_name(name)?;
        // SAFETY: env is live; `name` is NUL-terminated and outlives the call.
        self.check(unsafe { sys::napi_set_named_property(self.raw, obj.0, name.as_ptr(), v.0) })
    }

    /// `obj[name]` (getters run; a throwing getter gives `ErrorKind::Pending`).
    pub fn get_named(self, obj: Value, name: &str) -> Result<Value> {
        let name = c_name(name)?;
        // SAFETY: as in `set_named`.
        self.out(|r| unsafe { sys::napi_get_named_property(self.raw, obj.0, name.as_ptr(), r) })
    }

    /// `arr[i] = v`.
    pub fn set_element(self, arr: Value, i: u32, v: Value) -> Result<()> {
        // SAFETY: env is live; handles belong to it.
        self.check(unsafe { sys::napi_set_element(self.raw, arr.0, i, v.0) })
    }

    /// `arr[i]`.
    pub fn get_element(self, arr: Value, i: u32) -> Result<Value> {
        // SAFETY: as in `set_element`.
        self.out(|r| unsafe { sys::napi_get_element(self.raw, arr.0, i, r) })
    }

    /// `Array.isArray(v)`.
    pub fn is_array(self, v: Value) -> Result<bool> {
        let mut b = false;
        // SAFETY: as in `set_element`.
        self.check(unsafe { sys::napi_is_array(self.raw, v.0, &mut b) })?;
        Ok(b)
    }

    /// `arr.length` of an Array.
    pub fn array_length(self, arr: Value) -> Result<u32> {
        let mut n = 0u32;
        // SAFETY: as in `set_element`.
        self.check(unsafe { sys::napi_get_array_length(self.raw, arr.0, &mut n) })?;
        Ok(n)
    }

    /// The typed-array facts of `v`, or `None` when `v` is not a typed array.
    pub fn typedarray_info(self, v: Value) -> Result<Option<TypedArrayInfo>> {
        let mut is = false;
        // SAFETY: as in `set_element`.
        self.check(unsafe { sys::napi_is_typedarray(self.raw, v.0, &mut is) })?;
        if !is {
            return Ok(None);
        }
        let mut info = TypedArrayInfo {
            kind: 0,
            length: 0,
            data: ptr::null_mut(),
            byte_offset: 0,
        };
        let mut data: *mut c_void = ptr::null_mut();
        // SAFETY: `v` is a typed array; every out-pointer is valid; the ArrayBuffer
        // out-pointer may be null (not wanted).
        self.check(unsafe {
            sys::napi_get_typedarray_info(
                self.raw,
                v.0,
                &mut info.kind,
                &mut info.length,
                &mut data,
                ptr::null_mut(),
                &mut info.byte_offset,
            )
        })?;
        info.data = data.cast();
        Ok(Some(info))
    }

    /// A function object calling `cb`.
    pub fn create_function(self, name: &str, cb: Callback) -> Result<Value> {
        // A fn pointer round-trips through `void*` on every platform Node supports.
        let data = cb as *const () as *mut c_void;
        // SAFETY: `name` is valid for `name.len()` bytes; the trampoline reads `data` back
        // as the `Callback` it is.
        self.out(|r| unsafe {
            sys::napi_create_function(
                self.raw,
                name.as_ptr().cast(),
                name.len(),
                Some(trampoline),
                data,
                r,
            )
        })
    }

    /// `func.apply(recv, args)`; a throw gives `ErrorKind::Pending`.
    pub fn call_function(self, recv: Value, func: Value, args: &[Value]) -> Result<Value> {
        // `Value` is a transparent-in-practice newtype; build the raw argv explicitly.
        let argv: Vec<sys::napi_value> = args.iter().map(|a| a.0).collect();
        // SAFETY: env is live; `argv` holds `argv.len()` handles of it.
        self.out(|r| unsafe {
            sys::napi_call_function(self.raw, recv.0, func.0, argv.len(), argv.as_ptr(), r)
        })
    }

    /// The libuv loop of this environment (`napi_get_uv_event_loop`).
    pub fn uv_loop(self) -> Result<*mut crate::uv::uv_loop_t> {
        let mut l: *mut crate::uv::uv_loop_t = ptr::null_mut();
        // SAFETY: env is live; `l` is an out-pointer.
        self.check(unsafe { sys::napi_get_uv_event_loop(self.raw, &mut l) })?;
        Ok(l)
    }

    /// A new async context named `name` (resource: a fresh object).
    pub fn async_init(self, name: &str) -> Result<AsyncContext> {
        let resource = self.object()?;
        let name = self.string(name)?;
        let mut raw: sys::napi_async_context = ptr::null_mut();
        // SAFETY: env is live; both values are its handles; `raw` is an out-pointer.
        self.check(unsafe { sys::napi_async_init(self.raw, resource.0, name.0, &mut raw) })?;
        Ok(AsyncContext(raw))
    }

    /// Destroys a context made by [`Env::async_init`].
    ///
    /// # Safety
    /// `ctx` belongs to this env, is destroyed once and not used afterwards.
    pub unsafe fn async_destroy(self, ctx: AsyncContext) {
        // SAFETY: the caller's contract.
        unsafe { sys::napi_async_destroy(self.raw, ctx.0) };
    }

    /// `func.apply(recv, args)` as a top-level callback of `ctx` (`napi_make_callback`):
    /// runs the microtask queue and `nextTick` callbacks afterwards when it is the
    /// outermost JavaScript on the stack. A throw gives `ErrorKind::Pending`.
    pub fn make_callback(
        self,
        ctx: AsyncContext,
        recv: Value,
        func: Value,
        args: &[Value],
    ) -> Result<Value> {
        let argv: Vec<sys::napi_value> = args.iter().map(|a| a.0).collect();
        // SAFETY: env is live; `ctx` is a live context of it (AsyncContext is only made
        // by async_init); `argv` holds `argv.len()` handles.
        self.out(|r| unsafe {
            sys::napi_make_callback(
                self.raw,
                ctx.0,
                recv.0,
                func.0,
                argv.len(),
                argv.as_ptr(),
                r,
            )
        })
    }

    /// Whether an exception is pending.
    pub fn is_exception_pending(self) -> bool {
        let mut b = false;
        // SAFETY: env is live; `b` is an out-pointer.
        let status = unsafe { sys::napi_is_exception_pending(self.raw, &mut b) };
        status == sys::napi_ok && b
    }

    /// Takes the pending exception, if any.
    pub fn take_exception(self) -> Option<Value> {
        if !self.is_exception_pending() {
            return None;
        }
        // SAFETY: as in `undefined`.
        self.out(|r| unsafe { sys::napi_get_and_clear_last_exception(self.raw, r) })
            .ok()
    }

    /// Reports `err` as an uncaught exception (`process.on('uncaughtException')`
    /// semantics); for exceptions thrown by JavaScript the addon called from outside a
    /// JavaScript-initiated call (threadsafe-function calls, finalizers).
    pub fn fatal_exception(self, err: Value) {
        // SAFETY: env is live; `err` is a handle of it.
        unsafe { sys::napi_fatal_exception(self.raw, err.0) };
    }

    /// The JavaScript error object for `err` (not thrown).
    pub fn error_value(self, err: &Error) -> Result<Value> {
        let msg = self.string(&err.message)?;
        let code = match &err.code {
            Some(c) => self.string(c)?.0,
            None => ptr::null_mut(),
        };
        // SAFETY: env is live; `code` is null or a string handle, `msg` a string handle.
        let obj = self.out(|r| unsafe {
            match err.kind {
                ErrorKind::TypeError => sys::napi_create_type_error(self.raw, code, msg.0, r),
                ErrorKind::RangeError => sys::napi_create_range_error(self.raw, code, msg.0, r),
                ErrorKind::Error | ErrorKind::Pending => {
                    sys::napi_create_error(self.raw, code, msg.0, r)
                }
            }
        })?;
        if let Some(errno) = err.errno {
            self.set_named(obj, "errno", self.double(f64::from(errno))?)?;
        }
        Ok(obj)
    }

    /// Throws `err`, unless it is `ErrorKind::Pending` or another exception is already
    /// pending (the first exception wins, as in JavaScript).
    pub fn throw(self, err: &Error) {
        if self.is_exception_pending() {
            return;
        }
        let thrown = match err.kind {
            ErrorKind::Pending => self.error_value(&Error::with_code(
                "ERR_INTERNAL",
                "internal error: an exception was expected to be pending",
            )),
            _ => self.error_value(err),
        };
        match thrown {
            // SAFETY: env is live; `v` is the error object just made.
            Ok(v) => unsafe {
                sys::napi_throw(self.raw, v.0);
            },
            // SAFETY: env is live; both strings are NUL-terminated literals.
            Err(_) => unsafe {
                sys::napi_throw_error(
                    self.raw,
                    c"ERR_INTERNAL".as_ptr(),
                    c"internal error: cannot create an exception".as_ptr(),
                );
            },
        }
    }

    /// Wraps `value` in an external carrying `tag`; `value` is dropped by the external's
    /// finalizer (on this thread, when the external is collected or the env torn down).
    pub fn create_external<T: 'static>(self, value: T, tag: &TypeTag) -> Result<Value> {
        let data = Box::into_raw(Box::new(value));
        let mut out: sys::napi_value = ptr::null_mut();
        // SAFETY: `data` is a leaked Box<T> that `finalize_box::<T>` reclaims exactly once.
        let status = unsafe {
            sys::napi_create_external(
                self.raw,
                data.cast(),
                Some(finalize_box::<T>),
                ptr::null_mut(),
                &mut out,
            )
        };
        if let Err(e) = self.check(status) {
            // SAFETY: the external was not created, so nothing else owns `data`.
            drop(unsafe { Box::from_raw(data) });
            return Err(e);
        }
        // SAFETY: `out` is the fresh external; `tag` outlives the call. On failure the
        // external still owns `data` and its finalizer frees it.
        self.check(unsafe { sys::napi_type_tag_object(self.raw, out, &tag.0) })?;
        Ok(Value(out))
    }

    /// A Buffer over `len` bytes at `data` without copying, owned by `owner`: `owner`
    /// is dropped by the Buffer's finalizer (on this thread, when the Buffer is collected
    /// or the env torn down). Fails where the runtime forbids external buffers (the V8
    /// sandbox); `owner` is then dropped here.
    ///
    /// # Safety
    /// `data..data + len` must be memory owned by `owner`, valid and not otherwise
    /// accessed for as long as `owner` lives.
    pub unsafe fn external_buffer<T: 'static>(
        self,
        owner: T,
        data: *mut u8,
        len: usize,
    ) -> Result<Value> {
        let hint = Box::into_raw(Box::new(owner));
        let mut out: sys::napi_value = ptr::null_mut();
        // SAFETY: env is live; `data`/`len` are valid per the caller; `hint` is a leaked
        // Box<T> that `finalize_hint_box::<T>` reclaims exactly once.
        let status = unsafe {
            sys::napi_create_external_buffer(
                self.raw,
                len,
                data.cast(),
                Some(finalize_hint_box::<T>),
                hint.cast(),
                &mut out,
            )
        };
        if let Err(e) = self.check(status) {
            // SAFETY: the buffer was not created, so nothing else owns `hint`.
            drop(unsafe { Box::from_raw(hint) });
            return Err(e);
        }
        Ok(Value(out))
    }

    /// The value inside an external made by [`Env::create_external`] with the same `tag`
    /// and `T`; `None` for anything else. The reference is valid while `v` is reachable,
    /// which holds for the rest of the callback that received `v`.
    pub fn get_external<T: 'static>(&self, v: Value, tag: &TypeTag) -> Result<Option<&T>> {
        if self.type_of(v)? != ValueType::External {
            return Ok(None);
        }
        let mut ok = false;
        // SAFETY: env is live; `v` is an external handle; `tag` outlives the call.
        self.check(unsafe { sys::napi_check_object_type_tag(self.raw, v.0, &tag.0, &mut ok) })?;
        if !ok {
            return Ok(None);
        }
        let mut data: *mut c_void = ptr::null_mut();
        // SAFETY: as above; `data` is an out-pointer.
        self.check(unsafe { sys::napi_get_value_external(self.raw, v.0, &mut data) })?;
        // SAFETY: the tag proves `create_external::<T>` made it (callers pair each tag with
        // one `T`), so `data` is a live Box<T> owned by the external, which `v` keeps alive.
        Ok(Some(unsafe { &*data.cast::<T>() }))
    }
}

fn c_name(name: &str) -> Result<CString> {
    CString::new(name)
        .map_err(|_| Error::type_error("ERR_INVALID_ARG_VALUE", "property name contains NUL"))
}

fn index_u32(i: usize) -> Result<u32> {
    u32::try_from(i).map_err(|_| Error::range_error("ERR_OUT_OF_RANGE", "array index over 2^32-1"))
}

/// Finalizer of [`Env::create_external`].
///
/// # Safety
/// `data` must be the `Box<T>` leaked by `create_external::<T>`, finalized once.
unsafe extern "C" fn finalize_box<T>(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // A panic must not unwind into Node; a Drop that panics is a bug, so the value is
    // leaked rather than the process aborted.
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        drop(unsafe { Box::from_raw(data.cast::<T>()) });
    }));
}

/// Finalizer of [`Env::external_buffer`]: drops the owner passed as the hint.
///
/// # Safety
/// `hint` must be the `Box<T>` leaked by `external_buffer::<T>`, finalized once.
unsafe extern "C" fn finalize_hint_box<T>(
    _env: sys::napi_env,
    _data: *mut c_void,
    hint: *mut c_void,
) {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: per this function's contract.
        drop(unsafe { Box::from_raw(hint.cast::<T>()) });
    }));
}

/// The one native entry point of every function made by [`Env::create_function`].
///
/// # Safety
/// Called by Node only, with the `data` given to `napi_create_function` (a `Callback`).
unsafe extern "C" fn trampoline(
    raw_env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: Node passes the live env of this call.
    let env = unsafe { Env::from_raw(raw_env) };
    let mut call = CallInfo {
        argv: [ptr::null_mut(); MAX_ARGS],
        argc: MAX_ARGS,
        this: ptr::null_mut(),
    };
    let mut data: *mut c_void = ptr::null_mut();
    // SAFETY: `argv` has room for `argc` handles; the other out-pointers are valid.
    let status = unsafe {
        sys::napi_get_cb_info(
            raw_env,
            info,
            &mut call.argc,
            call.argv.as_mut_ptr(),
            &mut call.this,
            &mut data,
        )
    };
    if let Err(e) = env.check(status) {
        env.throw(&e);
        return ptr::null_mut();
    }
    // SAFETY: `data` is the `Callback` fn pointer stored by `create_function`.
    let cb = unsafe { std::mem::transmute::<*mut c_void, Callback>(data) };
    match catch_unwind(AssertUnwindSafe(|| cb(env, &call))) {
        Ok(Ok(v)) => v.0,
        Ok(Err(e)) => {
            env.throw(&e);
            ptr::null_mut()
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            env.throw(&Error::with_code(
                "ERR_INTERNAL",
                format!("internal error (Rust panic): {what}"),
            ));
            ptr::null_mut()
        }
    }
}
