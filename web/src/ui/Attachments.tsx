import type { Attachment } from "../protocol";
import { API } from "../api/rest";

/** Where the server serves an upload (an image inline, anything else as a download). */
export function uploadUrl(session: string, id: string): string {
  return `${API}/sessions/${encodeURIComponent(session)}/uploads/${encodeURIComponent(id)}`;
}

/** Sizes as people read them: 812 B, 4.1 KB, 2.3 MB. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} KB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** A paperclip, drawn (headless and minimal systems have no emoji font). */
export function ClipIcon() {
  return (
    <svg className="clip-icon" viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true">
      <path
        d="M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.3 3.3 0 0 1 4.7 4.7l-8.6 8.6a1.7 1.7 0 0 1-2.4-2.4l7.9-7.9"
        fill="none"
        stroke="currentColor"
        strokeWidth="2"
        strokeLinecap="round"
        strokeLinejoin="round"
      />
    </svg>
  );
}

/** A prompt's attachments in the transcript: thumbnails for images, chips for the rest. */
export function AttachmentList({ session, attachments }: { session: string; attachments: Attachment[] }) {
  if (attachments.length === 0) return null;
  return (
    <ul className="attachments" data-testid="attachments">
      {attachments.map((a) => (
        <li key={a.id} className="attachment" title={`${a.name} · ${a.mime_type} · ${formatSize(a.size)}`}>
          <a href={uploadUrl(session, a.id)} target="_blank" rel="noopener noreferrer">
            {a.mime_type.startsWith("image/") ? (
              <img className="thumb" src={uploadUrl(session, a.id)} alt={a.name} loading="lazy" data-testid="attachment-thumb" />
            ) : (
              <span className="chip" data-testid="attachment-chip">
                <ClipIcon /> {a.name} <span className="muted">{formatSize(a.size)}</span>
              </span>
            )}
          </a>
        </li>
      ))}
    </ul>
  );
}
