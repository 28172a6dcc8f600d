import { authHeaders, noteStatus } from './client';
import { problemOf } from './problem';

/**
 * Uploads one file as multipart/form-data with progress (fetch has no upload progress, so
 * XMLHttpRequest); resolves with the parsed JSON answer or rejects with an ApiError.
 */
export function uploadDocument(
  file: File,
  fields: Record<string, string>,
  onProgress: (fraction: number) => void,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/documents');
    xhr.withCredentials = true;
    for (const [name, value] of Object.entries(authHeaders('POST')))
      xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      noteStatus(xhr.status, '/v1/documents');
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(problemOf(xhr.status, body));
    };
    xhr.onerror = () => reject(new Error('The upload could not reach the server.'));
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) if (value) form.append(name, value);
    form.append('file', file);
    xhr.send(form);
  });
}
