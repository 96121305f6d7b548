// The embeddable player: one clip, as the gateway's /embed/... page
// describes it in a JSON data block (no inline script: the page's CSP
// allows only this file). Vidstack's default layout shows the poster, the
// caption tracks to choose from, the storyboard on the seek bar, and the
// keyboard and screen-reader controls.
import 'vidstack/player/styles/default/theme.css';
import 'vidstack/player/styles/default/layouts/video.css';
import './embed.css';
import { VidstackPlayer, VidstackPlayerLayout } from 'vidstack/global/player';

/** What the page describes (written by src/gateway/embed.rs). */
interface Clip {
  title: string;
  src: string;
  type: string;
  poster?: string;
  storyboard?: string;
  start?: number;
  tracks: {
    src: string;
    language: string;
    kind: 'subtitles' | 'captions' | 'descriptions';
    label: string;
    default: boolean;
  }[];
}

function describedClip(): Clip {
  const block = document.getElementById('clip');
  if (!block?.textContent) throw new Error('the page describes no clip');
  return JSON.parse(block.textContent) as Clip;
}

const clip = describedClip();
const player = await VidstackPlayer.create({
  target: '#player',
  title: clip.title,
  src: { src: clip.src, type: clip.type as 'video/mp4' },
  poster: clip.poster ?? '',
  crossOrigin: true,
  playsInline: true,
  tracks: clip.tracks.map((track) => ({
    src: track.src,
    kind: track.kind,
    label: track.label,
    language: track.language,
    default: track.default,
    type: 'vtt' as const,
  })),
  layout: new VidstackPlayerLayout({ thumbnails: clip.storyboard ?? '' }),
});
// The poster is an image: it says what it shows (the layout leaves it unnamed).
player.querySelector('media-poster')?.setAttribute('alt', clip.title);

// Where playback starts (`?t=`), once the clip can seek there.
const start = clip.start;
if (start) {
  const seek = () => {
    player.currentTime = start;
  };
  if (player.state.canPlay) seek();
  else player.addEventListener('can-play', seek, { once: true });
}
// For a host page or a test that wants to know the player is up.
player.dataset.ready = 'true';
