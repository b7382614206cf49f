//! The few system calls std does not offer: socket buffer sizes, dual-stack
//! sockets, the host's interface addresses, receiving many datagrams in
//! one call (`recvmmsg`), and the sender's credentials on a Unix socket
//! (`SCM_CREDENTIALS`). With dave-core's `pow_simd` (SIMD intrinsics),
//! this is one of the two modules with `unsafe` code.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::RawFd;

fn setsockopt_int(fd: RawFd, level: i32, name: i32, val: i32) -> io::Result<()> {
    // SAFETY: passes a pointer to a live i32 and its exact size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&val as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> io::Result<i32> {
    let mut val: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: passes a pointer to a live i32 and its size, which the kernel updates.
    let r = unsafe { libc::getsockopt(fd, level, name, (&mut val as *mut i32).cast(), &mut len) };
    if r == 0 {
        Ok(val)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks for a receive buffer of `bytes`; returns what the kernel granted
/// (Linux reports twice the usable size, capped by `net.core.rmem_max`).
pub fn set_recv_buffer(fd: RawFd, bytes: usize) -> io::Result<usize> {
    let want = bytes.min(i32::MAX as usize) as i32;
    // SO_RCVBUFFORCE works for root beyond rmem_max; fall back quietly.
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_err() {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, want)?;
    }
    Ok(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF)? as usize)
}

/// Asks for a send buffer of `bytes`; returns what the kernel granted.
pub fn set_send_buffer(fd: RawFd, bytes: usize) -> io::Result<usize> {
    let want = bytes.min(i32::MAX as usize) as i32;
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, want).is_err() {
        setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, want)?;
    }
    Ok(getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF)? as usize)
}

/// The addresses of this host's interfaces (empty if they cannot be read).
pub fn interface_addrs() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: the family says which sockaddr type the pointer holds.
            let fam = unsafe { (*ifa.ifa_addr).sa_family } as i32;
            if fam == libc::AF_INET {
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr))));
            } else if fam == libc::AF_INET6 {
                let sa = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                out.push(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: frees the list getifaddrs allocated, once.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// Counters of `/proc/net/snmp` for UDP: (InDatagrams, RcvbufErrors).
pub fn udp_snmp() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut lines = s.lines().filter(|l| l.starts_with("Udp:"));
    let names: Vec<&str> = lines.next()?.split_whitespace().collect();
    let vals: Vec<&str> = lines.next()?.split_whitespace().collect();
    let get = |n: &str| -> Option<u64> {
        let i = names.iter().position(|x| *x == n)?;
        vals.get(i)?.parse().ok()
    };
    Some((get("InDatagrams")?, get("RcvbufErrors")?))
}

/// The credentials of the process that sent a Unix socket datagram, as the
/// kernel attached them (`struct ucred`): a process can claim only its own
/// pid, uid and gid unless it has `CAP_SYS_ADMIN`, `CAP_SETUID` or
/// `CAP_SETGID`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cred {
    /// The sender's process id (0 when it is not visible from here).
    pub pid: i32,
    /// The sender's user id.
    pub uid: u32,
    /// The sender's group id.
    pub gid: u32,
}

/// This process's effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Asks the kernel to attach the sender's credentials to every datagram
/// the Unix socket `fd` receives (`SO_PASSCRED`).
pub fn pass_credentials(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PASSCRED, 1)
}

/// Receives one datagram on the Unix socket `fd` (blocking, or until its
/// receive timeout: `WouldBlock`), with the credentials the kernel attached
/// when [`pass_credentials`] was set. File descriptors a sender passed
/// along are closed at once.
pub fn recv_with_credentials(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<Cred>)> {
    // Room for the credentials and a few passed descriptors, aligned for cmsghdr.
    let mut control = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid (no name, no buffers).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    let n = loop {
        // SAFETY: msg points at live buffers of the lengths it gives.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n as usize;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut cred = None;
    // SAFETY: the CMSG_* walk stays within msg_controllen, which the kernel
    // set to what it wrote into `control`; each payload is read unaligned
    // with the size its header gives.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = ((*c).cmsg_len as usize).saturating_sub(data.offset_from(c.cast()) as usize);
            if (*c).cmsg_level == libc::SOL_SOCKET {
                if (*c).cmsg_type == libc::SCM_CREDENTIALS
                    && len >= std::mem::size_of::<libc::ucred>()
                {
                    let u: libc::ucred = std::ptr::read_unaligned(data.cast());
                    cred = Some(Cred {
                        pid: u.pid,
                        uid: u.uid,
                        gid: u.gid,
                    });
                } else if (*c).cmsg_type == libc::SCM_RIGHTS {
                    for i in 0..len / std::mem::size_of::<RawFd>() {
                        let fd: RawFd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                        libc::close(fd);
                    }
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok((n, cred))
}

/// Datagrams received by one `recvmmsg` call, in buffers allocated once.
///
/// Each buffer holds MTU + 1 bytes so that a datagram longer than the MTU
/// shows as too long instead of being silently cut.
pub struct RecvBatch {
    bufs: Box<[u8]>,
    addrs: Box<[libc::sockaddr_storage]>,
    lens: Box<[usize]>,
    stride: usize,
    n: usize,
}

impl RecvBatch {
    /// Room for `count` datagrams of up to `mtu` bytes.
    pub fn new(count: usize, mtu: usize) -> RecvBatch {
        let count = count.clamp(1, 64);
        let stride = mtu + 1;
        RecvBatch {
            bufs: vec![0u8; count * stride].into_boxed_slice(),
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            addrs: vec![unsafe { std::mem::zeroed::<libc::sockaddr_storage>() }; count]
                .into_boxed_slice(),
            lens: vec![0; count].into_boxed_slice(),
            stride,
            n: 0,
        }
    }

    /// Receives as many datagrams as are queued, up to the batch size,
    /// without blocking. `Ok(0)` means the socket would block.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        const MAX: usize = 64;
        let count = self.lens.len();
        // The headers point into this batch's buffers; they are rebuilt on
        // every call so the batch itself holds no pointers (and stays Send).
        // SAFETY: iovec and mmsghdr are plain old data; zeroes are valid.
        let mut iov: [libc::iovec; MAX] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; MAX] = unsafe { std::mem::zeroed() };
        let base = self.bufs.as_mut_ptr();
        for i in 0..count {
            iov[i] = libc::iovec {
                // SAFETY: i * stride + stride <= bufs.len(), so the pointer stays in bounds.
                iov_base: unsafe { base.add(i * self.stride) }.cast(),
                iov_len: self.stride,
            };
            hdrs[i].msg_hdr.msg_iov = &mut iov[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            hdrs[i].msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdrs[i].msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        // SAFETY: every header points at a live buffer of the stated length
        // and a sockaddr_storage; the kernel writes at most that much.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                count as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            self.n = 0;
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        self.n = r as usize;
        for (len, h) in self.lens.iter_mut().zip(&hdrs[..self.n]) {
            *len = (h.msg_len as usize).min(self.stride);
        }
        Ok(self.n)
    }

    /// Datagrams received by the last call.
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the last call received nothing.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Datagram `i` of the last call and its sender (`None` for an address
    /// family other than IPv4 and IPv6).
    pub fn get(&self, i: usize) -> (Option<SocketAddr>, &[u8]) {
        let b = &self.bufs[i * self.stride..i * self.stride + self.lens[i]];
        (sockaddr_to_std(&self.addrs[i]), b)
    }
}

fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr))),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(a.sin6_addr.s6_addr)),
                u16::from_be(a.sin6_port),
            ))
        }
        _ => None,
    }
}
