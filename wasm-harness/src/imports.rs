//! The functions the module imports, wired into a wasmtime `Linker`: the `proxy_*` calls the
//! filter uses (faithful to Envoy), the few `wasi_snapshot_preview1` calls the Rust standard
//! library links (implemented the way Envoy implements them itself: stdout/stderr become log
//! lines, no environment, random bytes, `proc_exit` ends the call), and a recording stub for
//! every other import, which marks the test failed ("called unexpectedly").

use wasmtime::{format_err, Caller, ExternType, Linker, Module, Result, Val};

use crate::abi::{self, errno, status, Guest};
use crate::host::{HostState, LocalReply};

type Cx<'a> = Caller<'a, HostState>;

/// Every import is implemented by this module or stubbed by [`stub_unexpected`]; the list is
/// what the filter is expected to call.
const IMPLEMENTED: &[(&str, &str)] = &[
    ("env", "proxy_log"),
    ("env", "proxy_get_log_level"),
    ("env", "proxy_get_buffer_bytes"),
    ("env", "proxy_set_buffer_bytes"),
    ("env", "proxy_get_header_map_pairs"),
    ("env", "proxy_set_header_map_pairs"),
    ("env", "proxy_remove_header_map_value"),
    ("env", "proxy_add_header_map_value"),
    ("env", "proxy_get_property"),
    ("env", "proxy_send_local_response"),
    ("env", "proxy_define_metric"),
    ("env", "proxy_increment_metric"),
    ("env", "proxy_record_metric"),
    ("env", "proxy_set_tick_period_milliseconds"),
    ("env", "proxy_close_stream"),
    ("wasi_snapshot_preview1", "random_get"),
    ("wasi_snapshot_preview1", "environ_sizes_get"),
    ("wasi_snapshot_preview1", "environ_get"),
    ("wasi_snapshot_preview1", "fd_write"),
    ("wasi_snapshot_preview1", "proc_exit"),
];

fn guest<'a, 'c>(caller: &'a mut Cx<'c>) -> Result<Guest<'a, 'c, HostState>> {
    let memory = caller
        .data()
        .memory
        .ok_or_else(|| format_err!("the module exports no memory"))?;
    let allocate = caller.data().allocate.clone();
    Ok(Guest {
        caller,
        memory,
        allocate,
    })
}

/// One host call: describe it (reading its arguments), let a scripted fault answer instead,
/// otherwise do it; record it either way.
fn host_call(
    caller: &mut Cx<'_>,
    name: &'static str,
    describe: impl FnOnce(&mut Guest<'_, '_, HostState>) -> String,
    op: impl FnOnce(&mut Guest<'_, '_, HostState>) -> Result<u32>,
) -> Result<u32> {
    let mut g = guest(caller)?;
    let line = describe(&mut g);
    if let Some(forced) = g.caller.data_mut().injected(name, &line) {
        g.caller.data_mut().record(name, line, forced, true);
        return Ok(forced);
    }
    let result = op(&mut g)?;
    g.caller.data_mut().record(name, line, result, false);
    Ok(result)
}

fn text(g: &mut Guest<'_, '_, HostState>, ptr: u32, len: u32) -> String {
    g.read(ptr, len)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|| format!("<invalid memory {ptr}+{len}>"))
}

/// Link every import of `module`.
pub fn link(linker: &mut Linker<HostState>, module: &Module) -> Result<()> {
    link_proxy(linker)?;
    link_wasi(linker)?;
    for import in module.imports() {
        let (m, n) = (import.module(), import.name());
        if IMPLEMENTED.contains(&(m, n)) {
            continue;
        }
        match import.ty() {
            ExternType::Func(ty) => stub_unexpected(linker, m, n, ty)?,
            other => wasmtime::bail!(
                "the module imports {m}.{n} ({other:?}); Envoy provides no such import"
            ),
        }
    }
    Ok(())
}

/// An import the filter must never call: record the call as a test failure and answer
/// `Unimplemented` (WASI: `ENOSYS`) so the module keeps running and the failure is reported
/// with the callback that made it.
fn stub_unexpected(
    linker: &mut Linker<HostState>,
    module: &str,
    name: &str,
    ty: wasmtime::FuncType,
) -> Result<()> {
    let label = format!("{module}.{name}");
    let answer = if module == "env" {
        status::UNIMPLEMENTED
    } else {
        errno::NOSYS
    };
    linker.func_new(module, name, ty, move |mut caller, params, results| {
        let args: Vec<String> = params.iter().map(|v| format!("{v:?}")).collect();
        let callback = caller.data().current.map_or("_initialize", |c| c.callback);
        caller.data_mut().fail(format!(
            "{callback} called {label}({}) unexpectedly: the filter is not expected to use it",
            args.join(", ")
        ));
        caller
            .data_mut()
            .record("unexpected_import", format!("{label}(...)"), answer, false);
        for r in results.iter_mut() {
            *r = match r {
                Val::I64(_) => Val::I64(i64::from(answer)),
                _ => Val::I32(answer as i32),
            };
        }
        Ok(())
    })?;
    Ok(())
}

fn link_proxy(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_log",
        |mut c: Cx<'_>, level: u32, ptr: u32, len: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_log",
                |g| {
                    let msg = text(g, ptr, len);
                    let name = abi::LogLevel::from_u32(level).map_or_else(
                        || level.to_string(),
                        |l| format!("{l:?}").to_ascii_lowercase(),
                    );
                    format!("proxy_log({name}, {msg})")
                },
                |g| match g.read(ptr, len) {
                    Some(b) => Ok(g
                        .caller
                        .data_mut()
                        .log(level, String::from_utf8_lossy(&b).into_owned())),
                    None => Ok(status::INVALID_MEMORY_ACCESS),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_get_log_level",
        |mut c: Cx<'_>, out: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_get_log_level",
                |_| "proxy_get_log_level()".to_owned(),
                |g| {
                    let level = g.caller.data().options.log_level as u32;
                    Ok(if g.write_u32(out, level) {
                        status::OK
                    } else {
                        status::INVALID_MEMORY_ACCESS
                    })
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: Cx<'_>,
         buffer: u32,
         start: u32,
         max: u32,
         ptr_ptr: u32,
         size_ptr: u32|
         -> Result<u32> {
            host_call(
                &mut c,
                "proxy_get_buffer_bytes",
                |_| {
                    format!(
                        "proxy_get_buffer_bytes({}, {start}, {max})",
                        abi::buffer_name(buffer)
                    )
                },
                |g| match g.caller.data().buffer_bytes(buffer, start, max) {
                    Ok(Some(bytes)) => Ok(if g.copy_out(&bytes, ptr_ptr, size_ptr)? {
                        status::OK
                    } else {
                        status::INVALID_MEMORY_ACCESS
                    }),
                    Ok(None) => Ok(status::OK),
                    Err(s) => Ok(s),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: Cx<'_>, buffer: u32, start: u32, size: u32, ptr: u32, len: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_set_buffer_bytes",
                |_| {
                    format!(
                        "proxy_set_buffer_bytes({}, {start}, {size}, {len} bytes)",
                        abi::buffer_name(buffer)
                    )
                },
                |g| match g.read(ptr, len) {
                    Some(data) => Ok(g
                        .caller
                        .data_mut()
                        .set_buffer_bytes(buffer, start, size, &data)),
                    None => Ok(status::INVALID_MEMORY_ACCESS),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: Cx<'_>, map: u32, ptr_ptr: u32, size_ptr: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_get_header_map_pairs",
                |_| format!("proxy_get_header_map_pairs({})", abi::map_name(map)),
                |g| match g.caller.data().header_pairs(map) {
                    Ok(bytes) => Ok(if g.copy_out(&bytes, ptr_ptr, size_ptr)? {
                        status::OK
                    } else {
                        status::INVALID_MEMORY_ACCESS
                    }),
                    Err(s) => Ok(s),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: Cx<'_>, map: u32, ptr: u32, len: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_set_header_map_pairs",
                |g| {
                    let count = g
                        .read(ptr, len)
                        .and_then(|b| abi::decode_pairs(&b).ok())
                        .map_or_else(|| "malformed".to_owned(), |p| p.len().to_string());
                    format!(
                        "proxy_set_header_map_pairs({}, {count} pairs)",
                        abi::map_name(map)
                    )
                },
                |g| match g.read(ptr, len) {
                    Some(raw) => Ok(g.caller.data_mut().set_header_pairs(map, &raw)),
                    None => Ok(status::INVALID_MEMORY_ACCESS),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: Cx<'_>, map: u32, kp: u32, kl: u32, vp: u32, vl: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_add_header_map_value",
                |g| {
                    let key = text(g, kp, kl);
                    let value = text(g, vp, vl);
                    format!(
                        "proxy_add_header_map_value({}, {key}, {value})",
                        abi::map_name(map)
                    )
                },
                |g| match (g.read(kp, kl), g.read(vp, vl)) {
                    (Some(key), Some(value)) => Ok(g.caller.data_mut().add_header(map, key, value)),
                    _ => Ok(status::INVALID_MEMORY_ACCESS),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: Cx<'_>, map: u32, ptr: u32, len: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_remove_header_map_value",
                |g| {
                    let key = text(g, ptr, len);
                    format!(
                        "proxy_remove_header_map_value({}, {key})",
                        abi::map_name(map)
                    )
                },
                |g| match g.read(ptr, len) {
                    Some(key) => Ok(g.caller.data_mut().remove_header(map, &key)),
                    None => Ok(status::INVALID_MEMORY_ACCESS),
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: Cx<'_>, ptr: u32, len: u32, ptr_ptr: u32, size_ptr: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_get_property",
                |g| {
                    let path = text(g, ptr, len).replace('\0', "/");
                    format!("proxy_get_property({path})")
                },
                |g| {
                    let Some(raw) = g.read(ptr, len) else {
                        return Ok(status::INVALID_MEMORY_ACCESS);
                    };
                    let path: Vec<String> = raw
                        .split(|b| *b == 0)
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .collect();
                    match g.caller.data_mut().property(&path) {
                        Ok(bytes) => Ok(if g.copy_out(&bytes, ptr_ptr, size_ptr)? {
                            status::OK
                        } else {
                            status::INVALID_MEMORY_ACCESS
                        }),
                        Err(s) => Ok(s),
                    }
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: Cx<'_>,
         code: u32,
         details_ptr: u32,
         details_len: u32,
         body_ptr: u32,
         body_len: u32,
         headers_ptr: u32,
         headers_len: u32,
         grpc_status: i32|
         -> Result<u32> {
            host_call(
                &mut c,
                "proxy_send_local_response",
                |g| {
                    let details = text(g, details_ptr, details_len);
                    format!("proxy_send_local_response({code}, {details})")
                },
                |g| {
                    let (Some(details), Some(body), Some(raw_headers)) = (
                        g.read(details_ptr, details_len),
                        g.read(body_ptr, body_len),
                        g.read(headers_ptr, headers_len),
                    ) else {
                        return Ok(status::INVALID_MEMORY_ACCESS);
                    };
                    let headers = match abi::decode_pairs(&raw_headers) {
                        Ok(h) => h,
                        Err(e) => {
                            g.caller.data_mut().fail(format!(
                                "proxy_send_local_response got malformed header pairs: {e}"
                            ));
                            Vec::new()
                        }
                    };
                    let reply = LocalReply {
                        status: code,
                        details: String::from_utf8_lossy(&details).into_owned(),
                        body,
                        headers: headers
                            .into_iter()
                            .map(|(k, v)| {
                                (
                                    String::from_utf8_lossy(&k).to_ascii_lowercase(),
                                    String::from_utf8_lossy(&v).into_owned(),
                                )
                            })
                            .collect(),
                        grpc_status,
                    };
                    Ok(g.caller.data_mut().local_response(reply))
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: Cx<'_>, kind: u32, ptr: u32, len: u32, id_ptr: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_define_metric",
                |g| {
                    let name = text(g, ptr, len);
                    let kind = match abi::MetricType::from_u32(kind) {
                        Some(k) => format!("{k:?}").to_ascii_lowercase(),
                        None => kind.to_string(),
                    };
                    format!("proxy_define_metric({kind}, {name})")
                },
                |g| {
                    let Some(name) = g.read(ptr, len) else {
                        return Ok(status::INVALID_MEMORY_ACCESS);
                    };
                    let name = String::from_utf8_lossy(&name).into_owned();
                    match g.caller.data_mut().define_metric(kind, &name) {
                        Ok(id) => Ok(if g.write_u32(id_ptr, id) {
                            status::OK
                        } else {
                            status::INVALID_MEMORY_ACCESS
                        }),
                        Err(s) => Ok(s),
                    }
                },
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_increment_metric",
        |mut c: Cx<'_>, id: u32, offset: i64| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_increment_metric",
                |g| {
                    let name = g.caller.data().metric_name(id);
                    format!("proxy_increment_metric({name}, {offset})")
                },
                |g| Ok(g.caller.data_mut().increment_metric(id, offset)),
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_record_metric",
        |mut c: Cx<'_>, id: u32, value: u64| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_record_metric",
                |g| {
                    let name = g.caller.data().metric_name(id);
                    format!("proxy_record_metric({name}, {value})")
                },
                |g| Ok(g.caller.data_mut().record_metric(id, value)),
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_set_tick_period_milliseconds",
        |mut c: Cx<'_>, ms: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_set_tick_period_milliseconds",
                |_| format!("proxy_set_tick_period_milliseconds({ms})"),
                |g| Ok(g.caller.data_mut().set_tick_period(ms)),
            )
        },
    )?;

    linker.func_wrap(
        "env",
        "proxy_close_stream",
        |mut c: Cx<'_>, stream: u32| -> Result<u32> {
            host_call(
                &mut c,
                "proxy_close_stream",
                |_| format!("proxy_close_stream({})", abi::stream_name(stream)),
                |g| Ok(g.caller.data_mut().close_stream(stream)),
            )
        },
    )?;
    Ok(())
}

fn link_wasi(linker: &mut Linker<HostState>) -> Result<()> {
    const W: &str = "wasi_snapshot_preview1";

    linker.func_wrap(
        W,
        "random_get",
        |mut c: Cx<'_>, buf: u32, len: u32| -> Result<u32> {
            host_call(
                &mut c,
                "random_get",
                |_| format!("random_get({len})"),
                |g| {
                    let bytes = g.caller.data_mut().random(len as usize);
                    Ok(if g.write(buf, &bytes) {
                        errno::SUCCESS
                    } else {
                        errno::FAULT
                    })
                },
            )
        },
    )?;

    linker.func_wrap(
        W,
        "environ_sizes_get",
        |mut c: Cx<'_>, count_ptr: u32, size_ptr: u32| -> Result<u32> {
            host_call(
                &mut c,
                "environ_sizes_get",
                |_| "environ_sizes_get()".to_owned(),
                |g| {
                    let env = &g.caller.data().options.environment;
                    let count = env.len() as u32;
                    let size: usize = env.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
                    Ok(
                        if g.write_u32(count_ptr, count) && g.write_u32(size_ptr, size as u32) {
                            errno::SUCCESS
                        } else {
                            errno::FAULT
                        },
                    )
                },
            )
        },
    )?;

    linker.func_wrap(
        W,
        "environ_get",
        |mut c: Cx<'_>, mut array_ptr: u32, mut buf_ptr: u32| -> Result<u32> {
            host_call(
                &mut c,
                "environ_get",
                |_| "environ_get()".to_owned(),
                |g| {
                    let env = g.caller.data().options.environment.clone();
                    for (k, v) in env {
                        let entry = format!("{k}={v}\0");
                        if !g.write_u32(array_ptr, buf_ptr) || !g.write(buf_ptr, entry.as_bytes()) {
                            return Ok(errno::FAULT);
                        }
                        buf_ptr += entry.len() as u32;
                        array_ptr += 4;
                    }
                    Ok(errno::SUCCESS)
                },
            )
        },
    )?;

    linker.func_wrap(
        W,
        "fd_write",
        |mut c: Cx<'_>, fd: u32, iovs: u32, iovs_len: u32, nwritten_ptr: u32| -> Result<u32> {
            host_call(
                &mut c,
                "fd_write",
                |_| format!("fd_write({fd})"),
                |g| {
                    // Envoy turns stdout into info and stderr into error log lines.
                    let level = match fd {
                        1 => abi::LogLevel::Info,
                        2 => abi::LogLevel::Error,
                        _ => return Ok(errno::BADF),
                    };
                    let mut out = Vec::new();
                    for i in 0..iovs_len {
                        let Some(iov) = g.read(iovs + i * 8, 8) else {
                            return Ok(errno::FAULT);
                        };
                        let buf = u32::from_le_bytes([iov[0], iov[1], iov[2], iov[3]]);
                        let len = u32::from_le_bytes([iov[4], iov[5], iov[6], iov[7]]);
                        let Some(bytes) = g.read(buf, len) else {
                            return Ok(errno::FAULT);
                        };
                        out.extend_from_slice(&bytes);
                    }
                    let written = out.len() as u32;
                    if !out.is_empty() {
                        let mut message = String::from_utf8_lossy(&out).into_owned();
                        if message.ends_with('\n') {
                            message.pop();
                        }
                        g.caller.data_mut().log(level as u32, message);
                    }
                    Ok(if g.write_u32(nwritten_ptr, written) {
                        errno::SUCCESS
                    } else {
                        errno::FAULT
                    })
                },
            )
        },
    )?;

    linker.func_wrap(W, "proc_exit", |mut c: Cx<'_>, code: u32| -> Result<()> {
        let callback = c.data().current.map_or("_initialize", |c| c.callback);
        c.data_mut()
            .record("proc_exit", format!("proc_exit({code})"), 0, false);
        // Envoy only logs it; the Rust runtime then traps. Stop the call right here, clearly.
        Err(format_err!(
            "the module called proc_exit({code}) in {callback}"
        ))
    })?;
    Ok(())
}
