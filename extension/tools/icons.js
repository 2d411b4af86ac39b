// Draws the toolbar icon: a white flag on a calm blue rounded square.
// Drawn in code so the repository holds no binary files.

import { encodePng } from './png.js';

const BG = [31, 92, 153]; // --accent in common.css
const FG = [255, 255, 255];

function inRoundedSquare(x, y, r) {
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

function inFlag(x, y) {
  const pole = x >= 0.27 && x <= 0.35 && y >= 0.18 && y <= 0.84;
  // The banner's right edge has a notch, like a pennant.
  const inBanner = x >= 0.35 && x <= 0.76 && y >= 0.2 && y <= 0.56;
  const notch = x > 0.6 && Math.abs(y - 0.38) < (x - 0.6) * (0.18 / 0.16);
  return pole || (inBanner && !notch);
}

export function drawIcon(size) {
  const px = new Uint8Array(size * size * 4);
  const S = 4; // supersampling per axis, for smooth edges
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size;
          const v = (y + (sy + 0.5) / S) / size;
          if (inRoundedSquare(u, v, 0.2)) {
            if (inFlag(u, v)) fg++;
            else bg++;
          }
        }
      }
      const total = S * S;
      const a = (bg + fg) / total;
      const i = (y * size + x) * 4;
      if (a === 0) continue;
      for (let c = 0; c < 3; c++) px[i + c] = Math.round((BG[c] * bg + FG[c] * fg) / (bg + fg));
      px[i + 3] = Math.round(a * 255);
    }
  }
  return encodePng(size, size, px);
}

export const ICON_SIZES = [16, 32, 48, 128];
