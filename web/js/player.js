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
  let position = 0; // the last position reached with a working URL
  let wanted = false; // the user pressed play and has not paused

  const expired = () => !url || Date.now() - fetchedAt > MAX_AGE_MS;

  const load = () => {
    if (!pending) {
      pending = (async () => {
        const at = audio.error ? position : audio.currentTime;
        const resume = wanted;
        const fresh = await fetchUrl();
        url = fresh;
        fetchedAt = Date.now();
        audio.addEventListener(
          "loadedmetadata",
          () => {
            if (at > 0) audio.currentTime = at;
            if (resume) audio.play().catch(() => {});
          },
          { once: true },
        );
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
  audio.addEventListener("timeupdate", () => {
    if (!audio.error) position = audio.currentTime;
  });
  audio.addEventListener("play", () => {
    wanted = true;
    refreshIfStale();
  });
  audio.addEventListener("pause", () => {
    if (!audio.error) wanted = false;
  });
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
