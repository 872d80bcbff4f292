//! A prompt's content blocks: its text, then each attachment in the form the agent
//! declared it takes (`initialize`'s `promptCapabilities`):
//! - an image (PNG, JPEG, GIF, WebP) as an ACP image block, if the agent takes images;
//! - a text file (a `text/*` or textual application type, valid UTF-8, at most
//!   [`EMBED_MAX`]) as an embedded resource, if the agent takes embedded context;
//! - anything else (or what the agent does not take) as a resource link to the file,
//!   which every ACP agent must accept.

use std::path::PathBuf;

use agent_client_protocol::v1::schema::{
    ContentBlock, EmbeddedResource, EmbeddedResourceResource, ImageContent, ResourceLink,
    TextContent, TextResourceContents,
};
use base64::Engine as _;
use berth_protocol::{AgentCapabilities, Attachment};

/// Largest text file sent inline; a longer one goes as a link.
pub const EMBED_MAX: u64 = 1 << 20;

/// Largest image sent inline; a larger one goes as a link.
pub const IMAGE_MAX: u64 = 20 << 20;

/// A file sent with a prompt: what it is and where it is.
#[derive(Debug, Clone)]
pub struct PromptFile {
    pub attachment: Attachment,
    pub path: PathBuf,
}

/// The blocks of a prompt of `text` with `files`, for an agent with `capabilities`.
/// Reads the files; one that cannot be read is an error naming it.
pub(crate) async fn blocks(
    text: &str,
    files: &[PromptFile],
    capabilities: &AgentCapabilities,
) -> Result<Vec<ContentBlock>, String> {
    let mut blocks = vec![ContentBlock::Text(TextContent::new(text))];
    for file in files {
        blocks.push(block(file, capabilities).await?);
    }
    Ok(blocks)
}

async fn block(
    file: &PromptFile,
    capabilities: &AgentCapabilities,
) -> Result<ContentBlock, String> {
    let attachment = &file.attachment;
    let mime = attachment.mime_type.as_str();
    let uri = file_uri(&file.path);
    let read = || async {
        tokio::fs::read(&file.path).await.map_err(|error| {
            format!(
                "could not read the attachment `{}`: {error}",
                attachment.name
            )
        })
    };
    if capabilities.image && is_model_image(mime) && attachment.size <= IMAGE_MAX {
        let data = base64::engine::general_purpose::STANDARD.encode(read().await?);
        // No `uri`: Gemini CLI reads an image with one as a file reference (and leaves
        // it out when the file is outside its workspace) instead of using the data.
        return Ok(ContentBlock::Image(ImageContent::new(data, essence(mime))));
    }
    // Not UTF-8 after all: a link, like any other file.
    if capabilities.embedded_context
        && is_textual(mime)
        && attachment.size <= EMBED_MAX
        && let Ok(text) = String::from_utf8(read().await?)
    {
        let contents = TextResourceContents::new(text, uri).mime_type(essence(mime).to_owned());
        return Ok(ContentBlock::Resource(EmbeddedResource::new(
            EmbeddedResourceResource::TextResourceContents(contents),
        )));
    }
    Ok(ContentBlock::ResourceLink(
        ResourceLink::new(attachment.name.clone(), uri)
            .mime_type(essence(mime).to_owned())
            .size(attachment.size as i64),
    ))
}

/// The image types model APIs take inline (an SVG, say, is refused: it goes as a link).
fn is_model_image(mime: &str) -> bool {
    matches!(
        essence(mime),
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// `type/subtype` without parameters.
fn essence(mime: &str) -> &str {
    mime.split(';').next().unwrap_or(mime).trim()
}

fn is_textual(mime: &str) -> bool {
    let mime = essence(mime);
    mime.starts_with("text/")
        || matches!(
            mime,
            "application/json"
                | "application/xml"
                | "application/javascript"
                | "application/x-yaml"
                | "application/yaml"
                | "application/toml"
                | "application/x-sh"
        )
        || mime.ends_with("+json")
        || mime.ends_with("+xml")
}

/// A `file://` URI of an absolute path, percent-encoding what a URI may not hold.
fn file_uri(path: &std::path::Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                uri.push(byte as char)
            }
            other => uri.push_str(&format!("%{other:02X}")),
        }
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &std::path::Path, name: &str, mime: &str, bytes: &[u8]) -> PromptFile {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        PromptFile {
            attachment: Attachment {
                id: "u".into(),
                name: name.into(),
                mime_type: mime.into(),
                size: bytes.len() as u64,
            },
            path,
        }
    }

    fn takes(image: bool, embedded_context: bool) -> AgentCapabilities {
        AgentCapabilities {
            image,
            embedded_context,
            ..AgentCapabilities::default()
        }
    }

    #[tokio::test]
    async fn each_file_goes_the_way_the_agent_takes_it() {
        let dir = tempfile::tempdir().unwrap();
        let png = file(dir.path(), "a b.png", "image/png", &[137, 80, 78, 71]);
        let notes = file(
            dir.path(),
            "notes.md",
            "text/markdown; charset=utf-8",
            "# hi é".as_bytes(),
        );
        let blob = file(dir.path(), "x.bin", "application/octet-stream", &[0, 1, 2]);
        let files = [png, notes, blob];

        let all = blocks("look", &files, &takes(true, true)).await.unwrap();
        assert!(matches!(&all[0], ContentBlock::Text(t) if t.text == "look"));
        let ContentBlock::Image(image) = &all[1] else {
            panic!("{:?}", all[1])
        };
        assert_eq!(
            (image.data.as_str(), image.mime_type.as_str()),
            ("iVBORw==", "image/png")
        );
        assert_eq!(image.uri, None, "the data, not a file reference");
        let ContentBlock::Resource(resource) = &all[2] else {
            panic!("{:?}", all[2])
        };
        let EmbeddedResourceResource::TextResourceContents(text) = &resource.resource else {
            panic!("{resource:?}")
        };
        assert_eq!(
            (text.text.as_str(), text.mime_type.as_deref()),
            ("# hi é", Some("text/markdown"))
        );
        assert!(
            matches!(&all[3], ContentBlock::ResourceLink(l) if l.name == "x.bin" && l.size == Some(3))
        );

        // An agent that takes neither gets links only.
        let links = blocks("look", &files, &takes(false, false)).await.unwrap();
        assert!(
            links[1..]
                .iter()
                .all(|b| matches!(b, ContentBlock::ResourceLink(_))),
            "{links:?}"
        );

        let mut gone = files[2].clone();
        gone.path = dir.path().join("missing");
        gone.attachment.mime_type = "text/plain".into();
        let error = blocks("x", &[gone], &takes(true, true)).await.unwrap_err();
        assert!(error.contains("x.bin"), "{error}");
    }
}
