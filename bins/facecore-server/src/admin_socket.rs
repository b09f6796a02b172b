//! The local admin socket (`<data dir>/admin.sock`, mode 0600): the CLI's way
//! to manage keys and accounts while the server holds the data file. One JSON
//! request per line, one JSON response per line
//! (see [`facecore::store::admin`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use facecore::store::Store;
use facecore::store::admin::{self, AdminResponse};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;

/// Longest request line accepted.
const MAX_LINE: usize = 64 * 1024;

/// Binds the admin socket in `data_dir`, replacing a stale socket file left
/// by a server that died. Only the owner may connect.
pub fn bind(data_dir: &Path) -> std::io::Result<(UnixListener, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let path = data_dir.join(admin::SOCKET_NAME);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by another running server", path.display()),
            ));
        }
        std::fs::remove_file(&path)?;
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, path))
}

/// Answers admin connections forever.
pub async fn run(listener: UnixListener, store: Arc<Store>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read);
            let mut line = String::new();
            loop {
                line.clear();
                match (&mut lines)
                    .take(MAX_LINE as u64)
                    .read_line(&mut line)
                    .await
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let request = line.trim().to_string();
                let store = Arc::clone(&store);
                let response =
                    tokio::task::spawn_blocking(move || admin::handle_line(&store, &request))
                        .await
                        .unwrap_or_else(|e| {
                            AdminResponse::Error(format!("admin operation failed: {e}"))
                        });
                let mut out = serde_json::to_vec(&response).unwrap_or_else(|e| {
                    format!(r#"{{"error":"response serialisation failed: {e}"}}"#).into_bytes()
                });
                out.push(b'\n');
                if write.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
    }
}
