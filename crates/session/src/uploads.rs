//! A session's uploads: files a user sends with prompts, kept in the session's own
//! directory as `uploads/<upload id>/<name>` with `upload.json` (the [`Attachment`])
//! beside it.
//!
//! The upload id is berth's (a UUID), so it alone decides the directory; the name the
//! user gave is reduced to one safe path component ([`safe_name`]), never a path. A file
//! is written under a temporary name and renamed into place once complete and within
//! the limit, so a failed or oversize upload leaves nothing an id could find.

use std::path::{Path, PathBuf};

use berth_protocol::Attachment;
use tokio::io::AsyncWriteExt;

use crate::SessionError;

const META: &str = "upload.json";
/// Longest stored name, in bytes (file systems allow 255).
const NAME_BYTES: usize = 200;
/// Most attachments one prompt may carry.
pub const MAX_ATTACHMENTS: usize = 20;

/// Where a session with artifact directory `artifacts` keeps its uploads.
pub(crate) fn dir(artifacts: &Path) -> PathBuf {
    artifacts.join("uploads")
}

/// The file of `attachment`.
pub fn path(artifacts: &Path, attachment: &Attachment) -> PathBuf {
    dir(artifacts).join(&attachment.id).join(&attachment.name)
}

/// `name` as one safe file name: its last path component, with control characters and
/// separators replaced, no leading dots, at most [`NAME_BYTES`] bytes (cut at a
/// character); `upload` if nothing is left.
pub fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut cleaned = String::new();
    for c in last.chars() {
        let c = if c.is_control() || c == ':' { '_' } else { c };
        if cleaned.len() + c.len_utf8() > NAME_BYTES {
            break;
        }
        cleaned.push(c);
    }
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    // Case-blind: on a case-insensitive file system `Upload.json` is the metadata too.
    if cleaned.is_empty() || cleaned.eq_ignore_ascii_case(META) || cleaned == ".partial" {
        "upload".to_owned()
    } else {
        cleaned
    }
}

/// Whether `mime` looks like `type/subtype` (parameters allowed): what is stored and
/// later handed to agents and browsers.
fn valid_mime(mime: &str) -> bool {
    let essence = mime.split(';').next().unwrap_or("").trim();
    let mut parts = essence.split('/');
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if token(a) && token(b))
}

/// An upload being written. Dropped before [`UploadWriter::finish`] (the client went
/// away, the server is stopping), it removes what it wrote.
pub struct UploadWriter {
    file: tokio::fs::File,
    partial: PathBuf,
    folder: PathBuf,
    attachment: Attachment,
    limit: u64,
    /// Finished or discarded: nothing left for `Drop` to remove.
    done: bool,
}

impl Drop for UploadWriter {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.folder);
        }
    }
}

impl UploadWriter {
    /// Start an upload of `name` (`mime_type`, at most `limit` bytes) into `artifacts`.
    pub(crate) async fn begin(
        artifacts: &Path,
        name: &str,
        mime_type: &str,
        limit: u64,
    ) -> Result<UploadWriter, SessionError> {
        let mime_type = mime_type.trim();
        if !valid_mime(mime_type) {
            return Err(SessionError::BadRequest(format!(
                "`Content-Type` must be a media type such as `image/png`, not `{mime_type}`"
            )));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let folder = dir(artifacts).join(&id);
        tokio::fs::create_dir_all(&folder).await?;
        let partial = folder.join(".partial");
        let file = tokio::fs::File::create(&partial).await?;
        Ok(UploadWriter {
            file,
            partial,
            folder,
            attachment: Attachment {
                id,
                name: safe_name(name),
                mime_type: mime_type.to_owned(),
                size: 0,
            },
            limit,
            done: false,
        })
    }

    /// Append `bytes`; over the limit, the upload is removed and refused.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), SessionError> {
        self.attachment.size += bytes.len() as u64;
        if self.attachment.size > self.limit {
            self.discard().await;
            return Err(SessionError::TooLarge(format!(
                "an upload may hold at most {} bytes (sessions.upload_max_mib)",
                self.limit
            )));
        }
        if let Err(error) = self.file.write_all(bytes).await {
            self.discard().await;
            return Err(error.into());
        }
        Ok(())
    }

    /// The upload is complete: put it in place and say what it is.
    pub async fn finish(mut self) -> Result<Attachment, SessionError> {
        let done = async {
            self.file.flush().await?;
            self.file.sync_all().await?;
            let meta = serde_json::to_vec(&self.attachment).map_err(std::io::Error::other)?;
            tokio::fs::write(self.folder.join(META), meta).await?;
            tokio::fs::rename(&self.partial, self.folder.join(&self.attachment.name)).await
        };
        match done.await {
            Ok(()) => {
                self.done = true;
                Ok(self.attachment.clone())
            }
            Err(error) => {
                self.discard().await;
                Err(error.into())
            }
        }
    }

    /// Drop what was written (a failed or abandoned upload).
    pub async fn discard(&mut self) {
        self.done = true;
        if let Err(error) = tokio::fs::remove_dir_all(&self.folder).await {
            tracing::warn!(%error, folder = %self.folder.display(), "could not remove a failed upload");
        }
    }
}

/// The uploads `ids` of the session with directory `artifacts`, in that order; an id
/// that is not one of its uploads is a `400` naming it (so is another session's).
pub(crate) async fn find(
    artifacts: &Path,
    ids: &[String],
) -> Result<Vec<Attachment>, SessionError> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(SessionError::BadRequest(format!(
            "a prompt may carry at most {MAX_ATTACHMENTS} attachments"
        )));
    }
    let mut found: Vec<Attachment> = Vec::with_capacity(ids.len());
    for id in ids {
        if found.iter().any(|a| a.id == *id) {
            return Err(SessionError::BadRequest(format!(
                "upload `{id}` is attached twice"
            )));
        }
        let unknown = || SessionError::BadRequest(format!("no upload `{id}` in this session"));
        // Ids are berth's UUIDs: anything else could not name a directory of ours.
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(unknown());
        }
        let meta = match tokio::fs::read(dir(artifacts).join(id).join(META)).await {
            Ok(meta) => meta,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(unknown()),
            Err(error) => return Err(error.into()),
        };
        let attachment: Attachment = serde_json::from_slice(&meta).map_err(|_| unknown())?;
        if attachment.id != *id {
            return Err(unknown());
        }
        found.push(attachment);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_safe_component() {
        assert_eq!(safe_name("photo.png"), "photo.png");
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\Users\\me\\notes.txt"), "notes.txt");
        assert_eq!(safe_name(".."), "upload");
        assert_eq!(safe_name(".bashrc"), "bashrc");
        assert_eq!(safe_name("a\nb\u{0}c"), "a_b_c");
        assert_eq!(safe_name(""), "upload");
        assert_eq!(safe_name("upload.json"), "upload");
        assert_eq!(safe_name("UPLOAD.JSON"), "upload");
        let long = safe_name(&"é".repeat(500));
        assert!(
            long.len() <= NAME_BYTES && long.chars().all(|c| c == 'é'),
            "{long}"
        );
    }

    #[test]
    fn media_types_are_checked() {
        assert!(valid_mime("image/png"));
        assert!(valid_mime("text/plain; charset=utf-8"));
        assert!(valid_mime("application/vnd.api+json"));
        assert!(!valid_mime("png"));
        assert!(!valid_mime("text/html/x"));
        assert!(!valid_mime("text/<script>"));
        assert!(!valid_mime(""));
    }

    #[tokio::test]
    async fn an_upload_is_found_by_its_id_and_an_oversize_one_leaves_nothing() {
        let artifacts = tempfile::tempdir().unwrap();
        let mut writer = UploadWriter::begin(artifacts.path(), "../a.txt", "text/plain", 10)
            .await
            .unwrap();
        writer.write(b"hello").await.unwrap();
        let stored = writer.finish().await.unwrap();
        assert_eq!((stored.name.as_str(), stored.size), ("a.txt", 5));
        assert_eq!(
            std::fs::read(path(artifacts.path(), &stored)).unwrap(),
            b"hello"
        );
        let found = find(artifacts.path(), std::slice::from_ref(&stored.id))
            .await
            .unwrap();
        assert_eq!(found, [stored]);

        let mut big = UploadWriter::begin(artifacts.path(), "big", "application/octet-stream", 10)
            .await
            .unwrap();
        big.write(b"0123456").await.unwrap();
        let error = big.write(b"789ab").await.unwrap_err();
        assert!(matches!(error, SessionError::TooLarge(_)), "{error}");
        let left = std::fs::read_dir(dir(artifacts.path())).unwrap().count();
        assert_eq!(left, 1, "only the first upload is kept");

        for id in ["nope", "../../etc", &uuid::Uuid::now_v7().to_string()] {
            let error = find(artifacts.path(), &[id.to_owned()]).await.unwrap_err();
            assert!(error.to_string().contains("no upload"), "{error}");
        }
    }
}
