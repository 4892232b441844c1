/*
 * rtnl.node: a minimal rtnetlink socket for Node, in plain C against N-API and libuv.
 *
 * Why not the `netlink` npm package: its event socket aborts the process when
 * the socket overflows (ENOBUFS) and it cannot raise the receive buffer above
 * rmem_max. This addon reports an overrun as an event and keeps reading, sizes
 * the buffer with SO_RCVBUFFORCE, reads in bounded batches (one JS callback per
 * batch, not per message) and can attach a classic BPF filter so route churn
 * of other protocols is dropped in the kernel before it costs buffer space.
 *
 * JS API (wrapped by src/kernel/netlink-socket.ts, which is the only caller):
 *   open(netns|null, groups[], rcvbufBytes, strictCheck, maxBatch, cb)
 *       -> [handle, portId, effectiveRcvbuf, forced]
 *       cb(kind, arg, text): kind 0 = data (Buffer), 1 = overrun (errno),
 *       2 = error (errno, text)
 *   send(handle, Buffer), setFilter(handle, number[]|null), close(handle),
 *   ref(handle), unref(handle), sdNotify(path, message)
 * Thrown errors carry `code` (an rtreflect error code) and `errno` (e.g. "EPERM").
 */
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

/* The kernel caps one netlink datagram at 32 KiB (dumps) - 64 KiB of room can never truncate. */
#define RECV_ROOM (64 * 1024)
/*
 * Bound on one batch's bytes, besides the datagram count. A dump datagram holds a few
 * hundred routes, so this is what bounds one callback's work: 256 KiB (about 2,500 routes,
 * a few ms of JS) keeps the event loop turning during a full table's dump, so the sinks'
 * sockets are served and written while the kernel is read (at 4 MiB one callback ran for
 * 100+ ms and a sink's round trip waited for it).
 */
#define BATCH_BYTES_CAP (256 * 1024)

#define KIND_DATA 0
#define KIND_OVERRUN 1
#define KIND_ERROR 2

/* BPF loads are big-endian; nlmsg_type/nlmsg_flags are host-endian u16. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST16_AS_BPF(x) ((uint32_t)((((x) & 0xffu) << 8) | (((x) >> 8) & 0xffu)))
#else
#define HOST16_AS_BPF(x) ((uint32_t)(x))
#endif

typedef struct rtnl_sock {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int max_batch;
  napi_ref callback;
  napi_async_context async_ctx;
  char *buf;
  size_t cap;
  int closing;   /* close started: no further callbacks */
  int uv_closed; /* uv_close callback ran */
  int finalized; /* the JS handle was collected */
  int hook_added;
} rtnl_sock;

/* ---------- errors ---------- */

static const char *errno_name(int err) {
  const char *n = uv_err_name(-err);
  return n ? n : "EUNKNOWN";
}

/* Throws an Error with .code = code, .errno = "EXXX" (when err != 0); message gets strerror appended. */
static void throw_err(napi_env env, const char *code, int err, const char *fmt, ...) {
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  if (err != 0) snprintf(msg + n, sizeof msg - (size_t)n, ": %s (%s)", strerror(err), errno_name(err));
  napi_value jcode, jmsg, jerr, jerrno;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_error(env, jcode, jmsg, &jerr);
  if (err != 0) {
    napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &jerrno);
    napi_set_named_property(env, jerr, "errno", jerrno);
  }
  napi_throw(env, jerr);
}

#define NAPI_OK(call)                                                           \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      bool pending_ = false;                                                    \
      napi_is_exception_pending(env, &pending_);                                \
      if (!pending_) napi_throw_error(env, "ERR_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

/* ---------- lifecycle ---------- */

static void maybe_free(rtnl_sock *s) {
  if (s->uv_closed && s->finalized) free(s);
}

static void on_uv_close(uv_handle_t *h) {
  rtnl_sock *s = (rtnl_sock *)h->data;
  s->uv_closed = 1;
  /* The batch buffer can be MiBs: release it now, not when the GC gets to the handle. */
  free(s->buf);
  s->buf = NULL;
  s->cap = 0;
  maybe_free(s);
}

static void cleanup_hook(void *arg);

static void close_sock(rtnl_sock *s, int in_env_teardown) {
  if (s->closing) return;
  s->closing = 1;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, on_uv_close);
  /* Safe right after uv_close: libuv has dropped the fd from epoll. */
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  if (!in_env_teardown) {
    if (s->hook_added) napi_remove_env_cleanup_hook(s->env, cleanup_hook, s);
    if (s->callback) napi_delete_reference(s->env, s->callback);
    if (s->async_ctx) napi_async_destroy(s->env, s->async_ctx);
  }
  s->hook_added = 0;
  s->callback = NULL;
  s->async_ctx = NULL;
}

static void cleanup_hook(void *arg) {
  rtnl_sock *s = (rtnl_sock *)arg;
  s->hook_added = 0;
  close_sock(s, 1);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  rtnl_sock *s = (rtnl_sock *)data;
  close_sock(s, 0);
  s->finalized = 1;
  maybe_free(s);
}

/* ---------- reading ---------- */

/* Calls cb(kind, arg, text) as a proper async callback; an exception in JS becomes an uncaught exception. */
static void emit(rtnl_sock *s, int kind, napi_value arg, const char *text) {
  napi_env env = s->env;
  if (s->closing || !s->callback) return;
  napi_value cb, recv, argv[3], result;
  if (napi_get_reference_value(env, s->callback, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv); /* MakeCallback needs an object receiver */
  napi_create_int32(env, kind, &argv[0]);
  argv[1] = arg;
  if (text) napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &argv[2]);
  else napi_get_undefined(env, &argv[2]);
  napi_status st = napi_make_callback(env, s->async_ctx, recv, cb, 3, argv, &result);
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc);
    }
  }
}

static void emit_errno(rtnl_sock *s, int kind, int err, const char *text) {
  napi_value v;
  napi_create_int32(s->env, err, &v);
  emit(s, kind, v, text);
}

/* Hands the collected datagrams to JS as one Buffer; returns the new length (0). */
static size_t flush(rtnl_sock *s, size_t len) {
  if (len == 0) return 0;
  napi_value b;
  void *data;
  if (napi_create_buffer_copy(s->env, len, s->buf, &data, &b) != napi_ok) {
    emit_errno(s, KIND_ERROR, ENOMEM, "cannot allocate a Buffer for the netlink batch");
    return 0;
  }
  emit(s, KIND_DATA, b, NULL);
  return 0;
}

static void read_batch(rtnl_sock *s) {
  size_t len = 0;
  int n = 0;
  while (!s->closing && n < s->max_batch && len < BATCH_BYTES_CAP) {
    if (s->cap - len < RECV_ROOM) {
      size_t ncap = s->cap ? s->cap * 2 : 4 * RECV_ROOM;
      while (ncap - len < RECV_ROOM) ncap *= 2;
      char *nb = realloc(s->buf, ncap);
      if (!nb) {
        len = flush(s, len);
        emit_errno(s, KIND_ERROR, ENOMEM, "cannot grow the netlink receive batch");
        return;
      }
      s->buf = nb;
      s->cap = ncap;
    }
    struct sockaddr_nl sa;
    struct iovec iov = {s->buf + len, s->cap - len};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_name = &sa;
    mh.msg_namelen = sizeof sa;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t r = recvmsg(s->fd, &mh, 0);
    if (r < 0) {
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      len = flush(s, len); /* keep event order: what arrived before the overrun first */
      if (err == ENOBUFS) {
        emit_errno(s, KIND_OVERRUN, err, "recvmsg");
        continue; /* the socket stays usable; keep draining */
      }
      emit_errno(s, KIND_ERROR, err, "recvmsg");
      return;
    }
    if (r == 0) break;
    if (mh.msg_flags & MSG_TRUNC) {
      len = flush(s, len);
      emit_errno(s, KIND_ERROR, EMSGSIZE, "netlink datagram truncated (larger than the receive room)");
      continue;
    }
    if (sa.nl_family != AF_NETLINK || sa.nl_pid != 0) continue; /* only the kernel may talk to us */
    len += (size_t)r;
    while (len & 3u) s->buf[len++] = 0; /* messages in a batch stay 4-aligned */
    n++;
  }
  flush(s, len);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  rtnl_sock *s = (rtnl_sock *)h->data;
  if (s->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(s->env, &scope) != napi_ok) return;
  if (status < 0) {
    /*
     * libuv turns EPOLLERR into UV_EBADF and stops the handle. On a netlink socket EPOLLERR
     * means sk_err is set, normally ENOBUFS after an overflow: read (and clear) it, re-arm, go on.
     */
    int soerr = 0;
    socklen_t l = sizeof soerr;
    if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &l) < 0) {
      emit_errno(s, KIND_ERROR, errno, "poll");
    } else {
      if (soerr == ENOBUFS) emit_errno(s, KIND_OVERRUN, soerr, "poll");
      else if (soerr != 0) emit_errno(s, KIND_ERROR, soerr, "socket error");
      if (!s->closing) {
        int r = uv_poll_start(&s->poll, UV_READABLE, on_poll);
        if (r < 0) emit_errno(s, KIND_ERROR, -r, "re-arming the poll handle");
        else read_batch(s);
      }
    }
  } else {
    read_batch(s);
  }
  napi_close_handle_scope(s->env, scope);
}

/* ---------- helpers ---------- */

static rtnl_sock *get_sock(napi_env env, napi_value v, int must_be_open) {
  napi_valuetype t;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &p) != napi_ok || !p) {
    napi_throw_type_error(env, "ERR_NATIVE", "expected a netlink socket handle");
    return NULL;
  }
  rtnl_sock *s = (rtnl_sock *)p;
  if (must_be_open && s->closing) {
    throw_err(env, "ERR_NETLINK_CLOSED", 0, "the netlink socket is closed");
    return NULL;
  }
  return s;
}

/* Reads a JS string into a malloc'd buffer; NULL for null/undefined (then *is_null = 1). */
static char *get_string(napi_env env, napi_value v, int *is_null) {
  napi_valuetype t;
  *is_null = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return NULL;
  if (t == napi_null || t == napi_undefined) {
    *is_null = 1;
    return NULL;
  }
  size_t n = 0;
  if (t != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return NULL;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, n + 1, &n);
  return s;
}

/* Creates the netlink socket inside the named namespace; always returns the thread to its own. */
static int socket_in_netns(napi_env env, const char *ns) {
  char path[4096];
  if (strchr(ns, '/')) snprintf(path, sizeof path, "%s", ns);
  else {
    if (!*ns || !strcmp(ns, ".") || !strcmp(ns, "..")) {
      throw_err(env, "ERR_NETNS", 0, "invalid network namespace name \"%s\"", ns);
      return -1;
    }
    snprintf(path, sizeof path, "/run/netns/%s", ns);
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int err = errno;
    throw_err(env, "ERR_NETNS", err, "network namespace \"%s\" cannot be opened (check `ip netns list`); open %s", ns, path);
    return -1;
  }
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    int err = errno;
    close(target);
    throw_err(env, "ERR_NETNS", err, "cannot open this thread's network namespace (/proc/thread-self/ns/net) to return to it");
    return -1;
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    int err = errno;
    close(target);
    close(self);
    throw_err(env, "ERR_NETNS", err, "cannot enter network namespace \"%s\" (needs CAP_SYS_ADMIN)", ns);
    return -1;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  int serr = errno;
  if (setns(self, CLONE_NEWNET) < 0) {
    /* Continuing in the wrong namespace would silently act on the wrong kernel tables. */
    napi_fatal_error("rtnl", NAPI_AUTO_LENGTH, "cannot return to the original network namespace after setns", NAPI_AUTO_LENGTH);
  }
  close(target);
  close(self);
  if (fd < 0) {
    throw_err(env, "ERR_NETLINK_SOCKET", serr, "cannot create a NETLINK_ROUTE socket in network namespace \"%s\"", ns);
    return -1;
  }
  return fd;
}

/* ---------- exported functions ---------- */

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 6) {
    napi_throw_type_error(env, "ERR_NATIVE", "open(netns, groups, rcvbuf, strictCheck, maxBatch, cb)");
    return NULL;
  }
  int ns_null = 0;
  char *ns = get_string(env, argv[0], &ns_null);
  if (!ns && !ns_null) {
    napi_throw_type_error(env, "ERR_NATIVE", "netns must be a string or null");
    return NULL;
  }
  uint32_t ngroups = 0;
  NAPI_OK(napi_get_array_length(env, argv[1], &ngroups));
  int64_t rcvbuf64 = 0;
  NAPI_OK(napi_get_value_int64(env, argv[2], &rcvbuf64));
  bool strict = false;
  NAPI_OK(napi_get_value_bool(env, argv[3], &strict));
  int32_t max_batch = 0;
  NAPI_OK(napi_get_value_int32(env, argv[4], &max_batch));
  if (max_batch < 1) max_batch = 1;
  napi_valuetype cbt;
  NAPI_OK(napi_typeof(env, argv[5], &cbt));
  if (cbt != napi_function) {
    free(ns);
    napi_throw_type_error(env, "ERR_NATIVE", "callback must be a function");
    return NULL;
  }

  int fd;
  if (ns) {
    fd = socket_in_netns(env, ns);
    if (fd < 0) {
      free(ns);
      return NULL;
    }
  } else {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
      throw_err(env, "ERR_NETLINK_SOCKET", errno, "cannot create a NETLINK_ROUTE socket");
      return NULL;
    }
  }
  const char *where = ns ? ns : "(current)";
  int one = 1;

  /* Buffer: SO_RCVBUFFORCE ignores rmem_max but needs CAP_NET_ADMIN; SO_RCVBUF is capped at rmem_max. */
  int forced = 0;
  if (rcvbuf64 > 0) {
    int want = rcvbuf64 > INT32_MAX / 2 ? INT32_MAX / 2 : (int)rcvbuf64;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &want, sizeof want) == 0) forced = 1;
    else if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &want, sizeof want) < 0) {
      int err = errno;
      close(fd);
      throw_err(env, "ERR_NETLINK_SOCKET", err, "cannot set SO_RCVBUF to %d bytes on the netlink socket (namespace %s)", want, where);
      free(ns);
      return NULL;
    }
  }
  /* Errors name the offending field and carry a text (extended ACK); only the header of our request is echoed. */
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  if (strict && setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    throw_err(env, "ERR_NETLINK_SOCKET", err, "cannot enable NETLINK_GET_STRICT_CHK (kernel >= 4.20 needed) (namespace %s)", where);
    free(ns);
    return NULL;
  }

  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK; /* nl_pid 0: the kernel assigns a unique port id */
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    throw_err(env, "ERR_NETLINK_SOCKET", err, "cannot bind the netlink socket (namespace %s)", where);
    free(ns);
    return NULL;
  }
  for (uint32_t i = 0; i < ngroups; i++) {
    napi_value gv;
    int32_t g = 0;
    if (napi_get_element(env, argv[1], i, &gv) != napi_ok || napi_get_value_int32(env, gv, &g) != napi_ok || g <= 0) {
      close(fd);
      free(ns);
      throw_err(env, "ERR_NETLINK_SOCKET", 0, "netlink group #%u is not a positive RTNLGRP_* number", i);
      return NULL;
    }
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &g, sizeof g) < 0) {
      int err = errno;
      close(fd);
      throw_err(env, "ERR_NETLINK_SOCKET", err, "cannot join netlink group %d (NETLINK_ADD_MEMBERSHIP, namespace %s)", g, where);
      free(ns);
      return NULL;
    }
  }
  socklen_t salen = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
    int err = errno;
    close(fd);
    throw_err(env, "ERR_NETLINK_SOCKET", err, "getsockname on the netlink socket failed (namespace %s)", where);
    free(ns);
    return NULL;
  }
  int eff = 0;
  socklen_t efflen = sizeof eff;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eff, &efflen);
  free(ns);

  rtnl_sock *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    throw_err(env, "ERR_NETLINK_SOCKET", ENOMEM, "out of memory");
    return NULL;
  }
  s->env = env;
  s->fd = fd;
  s->max_batch = max_batch;
  uv_loop_t *loop = NULL;
  int uverr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || (uverr = uv_poll_init(loop, &s->poll, fd)) != 0) {
    close(fd);
    free(s);
    throw_err(env, "ERR_NETLINK_SOCKET", 0, "cannot register the netlink socket with the event loop");
    return NULL;
  }
  s->poll.data = s;
  napi_value handle, res_name;
  if (napi_create_reference(env, argv[5], 1, &s->callback) != napi_ok ||
      napi_create_string_utf8(env, "rtreflect:netlink", NAPI_AUTO_LENGTH, &res_name) != napi_ok ||
      napi_async_init(env, NULL, res_name, &s->async_ctx) != napi_ok ||
      napi_create_external(env, s, finalize_handle, NULL, &handle) != napi_ok) {
    /* Nothing in JS refers to s yet: tear down by hand, the close callback frees it. */
    s->finalized = 1;
    close_sock(s, 0);
    napi_throw_error(env, "ERR_NATIVE", "cannot create the netlink socket handle");
    return NULL;
  }
  if (napi_add_env_cleanup_hook(env, cleanup_hook, s) == napi_ok) s->hook_added = 1;
  if ((uverr = uv_poll_start(&s->poll, UV_READABLE, on_poll)) != 0) {
    close_sock(s, 0);
    throw_err(env, "ERR_NETLINK_SOCKET", -uverr, "cannot poll the netlink socket");
    return NULL;
  }

  napi_value out, v;
  NAPI_OK(napi_create_array_with_length(env, 4, &out));
  napi_set_element(env, out, 0, handle);
  napi_create_uint32(env, sa.nl_pid, &v);
  napi_set_element(env, out, 1, v);
  napi_create_int32(env, eff, &v);
  napi_set_element(env, out, 2, v);
  napi_get_boolean(env, forced, &v);
  napi_set_element(env, out, 3, v);
  return out;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rtnl_sock *s = get_sock(env, argv[0], 1);
  if (!s) return NULL;
  void *data;
  size_t len;
  bool isbuf = false;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_NATIVE", "send() needs a Buffer");
    return NULL;
  }
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  ssize_t r;
  do r = sendto(s->fd, data, len, 0, (struct sockaddr *)&sa, sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    throw_err(env, "ERR_NETLINK_SEND", errno, "cannot send a %zu-byte netlink request to the kernel", len);
    return NULL;
  }
  return NULL;
}

static napi_value js_set_filter(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rtnl_sock *s = get_sock(env, argv[0], 1);
  if (!s) return NULL;
  napi_valuetype t;
  NAPI_OK(napi_typeof(env, argv[1], &t));
  if (t == napi_null || t == napi_undefined) {
    int dummy = 0;
    if (setsockopt(s->fd, SOL_SOCKET, SO_DETACH_FILTER, &dummy, sizeof dummy) < 0 && errno != ENOENT) {
      throw_err(env, "ERR_NETLINK_FILTER", errno, "cannot detach the protocol filter (SO_DETACH_FILTER)");
    }
    return NULL;
  }
  uint32_t n = 0;
  NAPI_OK(napi_get_array_length(env, argv[1], &n));
  uint8_t seen[256] = {0};
  uint8_t protos[256];
  uint32_t np = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int32_t p = -1;
    napi_get_element(env, argv[1], i, &v);
    if (napi_get_value_int32(env, v, &p) != napi_ok || p < 0 || p > 255) {
      throw_err(env, "ERR_NETLINK_FILTER", 0, "protocol filter entry #%u is not a route protocol number 0..255", i);
      return NULL;
    }
    if (!seen[p]) {
      seen[p] = 1;
      protos[np++] = (uint8_t)p;
    }
  }
  if (np > 251) { /* cBPF jump offsets are 8 bits */
    throw_err(env, "ERR_NETLINK_FILTER", 0, "protocol filter has %u protocols; at most 251 are supported", np);
    return NULL;
  }
  /*
   * Per datagram (a multicast notification is one message per datagram):
   *   type = nlmsg_type; if type is neither RTM_NEWROUTE nor RTM_DELROUTE: accept
   *   if RTM_NEWROUTE and nlmsg_flags has NLM_F_REPLACE: accept (a replace may take a route from us)
   *   accept iff rtm_protocol (byte 16+5) is in the set; else drop.
   */
  struct sock_filter prog[8 + 256];
  uint32_t acc = 7 + np, i = 0;
  prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4);
  prog[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HOST16_AS_BPF(RTM_NEWROUTE), 1, 0);
  prog[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, HOST16_AS_BPF(RTM_DELROUTE), 2, (uint8_t)(acc - 3));
  prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);
  prog[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, HOST16_AS_BPF(NLM_F_REPLACE), (uint8_t)(acc - 5), 0);
  prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, NLMSG_HDRLEN + offsetof(struct rtmsg, rtm_protocol));
  for (uint32_t k = 0; k < np; k++, i++) {
    prog[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, protos[k], (uint8_t)(acc - i - 1), 0);
  }
  prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
  prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffu);
  struct sock_fprog fprog = {(unsigned short)i, prog};
  if (setsockopt(s->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0) {
    throw_err(env, "ERR_NETLINK_FILTER", errno, "cannot attach the protocol filter (SO_ATTACH_FILTER)");
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rtnl_sock *s = get_sock(env, argv[0], 0);
  if (s) close_sock(s, 0);
  return NULL;
}

static napi_value set_ref(napi_env env, napi_callback_info info, int on) {
  size_t argc = 1;
  napi_value argv[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  rtnl_sock *s = get_sock(env, argv[0], 0);
  if (!s || s->closing) return NULL;
  if (on) uv_ref((uv_handle_t *)&s->poll);
  else uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}
static napi_value js_ref(napi_env env, napi_callback_info info) { return set_ref(env, info, 1); }
static napi_value js_unref(napi_env env, napi_callback_info info) { return set_ref(env, info, 0); }

static napi_value js_sd_notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int isnull = 0;
  char *path = get_string(env, argv[0], &isnull);
  char *msg = argc > 1 ? get_string(env, argv[1], &isnull) : NULL;
  if (!path || !msg) {
    free(path);
    free(msg);
    napi_throw_type_error(env, "ERR_NATIVE", "sdNotify(socketPath: string, message: string)");
    return NULL;
  }
  struct sockaddr_un sun;
  memset(&sun, 0, sizeof sun);
  sun.sun_family = AF_UNIX;
  size_t plen = strlen(path);
  socklen_t alen;
  if (plen < 2 || (path[0] != '/' && path[0] != '@') || plen >= sizeof sun.sun_path) {
    throw_err(env, "ERR_SD_NOTIFY", 0, "NOTIFY_SOCKET \"%s\" is not an absolute path or @abstract name of at most %zu bytes",
              path, sizeof sun.sun_path - 1);
    free(path);
    free(msg);
    return NULL;
  }
  memcpy(sun.sun_path, path, plen);
  if (path[0] == '@') {
    sun.sun_path[0] = '\0'; /* abstract namespace; the length below delimits the name */
    alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
  } else {
    alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw_err(env, "ERR_SD_NOTIFY", errno, "cannot create an AF_UNIX datagram socket for NOTIFY_SOCKET");
    free(path);
    free(msg);
    return NULL;
  }
  ssize_t r;
  size_t mlen = strlen(msg);
  do r = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr *)&sun, alen);
  while (r < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (r < 0) throw_err(env, "ERR_SD_NOTIFY", err, "cannot send to NOTIFY_SOCKET \"%s\"", path);
  free(path);
  free(msg);
  return NULL;
}

/* mallocTrim(): hands the C heap's free pages back to the system. After a bulk
 * load (a full table's netlink reads and sink writes) glibc keeps them otherwise,
 * and the daemon's resident size stays at its peak. Returns whether any was released. */
static napi_value js_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
#ifdef __GLIBC__
  napi_get_boolean(env, malloc_trim(0) != 0, &out);
#else
  napi_get_boolean(env, false, &out);
#endif
  return out;
}

/* lowMemoryNotification(): in heap.cc (it needs V8's C++ API). */
napi_value rtr_low_memory_notification(napi_env env, napi_callback_info info);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setFilter", NULL, js_set_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unref", NULL, js_unref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sdNotify", NULL, js_sd_notify, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mallocTrim", NULL, js_malloc_trim, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lowMemoryNotification", NULL, rtr_low_memory_notification, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
