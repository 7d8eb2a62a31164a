// An <audio> player over the API's short-lived signed media URLs (voicemail, recordings).
//
// The URL (a 5-minute read-only Blob SAS URL that serves HTTP Range, so seeking works) is
// fetched only when the user asks to play, and fetched again when it is about to expire or when
// the element reports an error (an expired signature answers 403): the position and the playing
// state are kept across the swap.

import { h } from "./dom.js";

const MAX_AGE_MS = 4.5 * 60 * 1000; // signed for 5 minutes; refresh a little early

/**
 * createPlayer({fetchUrl: async () => url, label, onError(err)}) ->
 *   {audio, start(): Promise<void>}   start() loads (or refreshes) the URL and plays.
 */
export function createPlayer({ fetchUrl, label, onError }) {
  const audio = h("audio", { controls: true, preload: "metadata", "aria-label": label });
  let url = null;
  let fetchedAt = 0;
  let pending = null;
  let lastRetry = 0;

  const expired = () => !url || Date.now() - fetchedAt > MAX_AGE_MS;

  const load = () => {
    if (!pending) {
      pending = (async () => {
        const at = audio.currentTime;
        const wasPlaying = !audio.paused;
        const fresh = await fetchUrl();
        url = fresh;
        fetchedAt = Date.now();
        if (at > 0) {
          audio.addEventListener(
            "loadedmetadata",
            () => {
              audio.currentTime = at;
              if (wasPlaying) audio.play().catch(() => {});
            },
            { once: true },
          );
        }
        audio.src = fresh;
      })().finally(() => {
        pending = null;
      });
    }
    return pending;
  };

  const refreshIfStale = () => {
    if (url && expired()) load().catch(onError);
  };
  audio.addEventListener("play", refreshIfStale);
  audio.addEventListener("seeking", refreshIfStale);
  audio.addEventListener("error", () => {
    if (!url) return;
    if (Date.now() - lastRetry < 10000) {
      onError(new Error("This recording could not be played. Please try again."));
      return;
    }
    lastRetry = Date.now(); // most likely the signature expired: one fresh URL, then report
    load().catch(onError);
  });

  return {
    audio,
    async start() {
      if (expired()) await load();
      try {
        await audio.play();
      } catch {
        // Autoplay may be refused; the visible controls still play it.
      }
    },
  };
}
