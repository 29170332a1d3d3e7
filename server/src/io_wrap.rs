//! Connection wrappers that only change how a connection is read (a rewound prefix, an admission slot held while
//! it lives) write through to the connection they wrap: [`write_through!`] is that `AsyncWrite` once; wrappers
//! that only change how it is written read through it ([`read_through!`]). Both kinds lend the connection's
//! descriptor ([`fd_through!`]): engine.io writes small broadcast frames straight into it (issue #19), which is
//! right only for wrappers that never hold back or change bytes written after a websocket upgrade.

/// Implements `tokio::io::AsyncWrite` for `$wrapper<T>` by forwarding every call to its `inner: T` field.
macro_rules! write_through {
    ($wrapper:ident) => {
        impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<T> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }
        }
    };
}

/// Implements `tokio::io::AsyncRead` for `$wrapper<T>` by forwarding to its `inner: T` field.
macro_rules! read_through {
    ($wrapper:ident) => {
        impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for $wrapper<T> {
            fn poll_read(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
            }
        }
    };
}

/// Implements `AsRawFd` for `$wrapper<T>` by forwarding to its `inner: T` field.
macro_rules! fd_through {
    ($wrapper:ident) => {
        impl<T: std::os::fd::AsRawFd> std::os::fd::AsRawFd for $wrapper<T> {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.inner.as_raw_fd()
            }
        }
    };
}

pub(crate) use {fd_through, read_through, write_through};
