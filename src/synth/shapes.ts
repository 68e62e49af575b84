/**
 * The object vocabulary: categories told apart by shape, named colours, and textures. Shapes are
 * defined in unit coordinates (u, v) ∈ [-1, 1]² with v pointing down, as point-inside tests, so that the
 * renderer decides every pixel from its centre alone and the masks are exact.
 */

export const CATEGORIES = [
  "circle",
  "square",
  "triangle",
  "star",
  "ring",
  "cross",
  "ellipse",
  "hexagon",
] as const;
export type CategoryName = (typeof CATEGORIES)[number];

type Point = [number, number];

function regularPolygon(sides: number, radius: number, startAngle: number): Point[] {
  const points: Point[] = [];
  for (let i = 0; i < sides; i++) {
    const a = startAngle + (2 * Math.PI * i) / sides;
    points.push([radius * Math.cos(a), radius * Math.sin(a)]);
  }
  return points;
}

function starPolygon(points: number, outer: number, inner: number): Point[] {
  const vertices: Point[] = [];
  for (let i = 0; i < 2 * points; i++) {
    const a = -Math.PI / 2 + (Math.PI * i) / points;
    const r = i % 2 === 0 ? outer : inner;
    vertices.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  return vertices;
}

/** Even–odd point-in-polygon test (works for the non-convex star too). */
function insidePolygon(polygon: readonly Point[], u: number, v: number): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i];
    const [xj, yj] = polygon[j];
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// Triangle pointing up, centred on its centroid; ellipse aspect is built into the shape so that the
// "aspect" knob of a circle stays small and a circle still reads as a circle.
const TRIANGLE = regularPolygon(3, 1.08, -Math.PI / 2);
const STAR = starPolygon(5, 1.1, 0.47);
const HEXAGON = regularPolygon(6, 1, 0);

/** Whether the unit-space point (u, v) lies inside the shape of category `category` (index). */
export function insideShape(category: number, u: number, v: number): boolean {
  // Every shape lies within radius 1.21 (the square's corner, 0.85·√2): a cheap early exit for the
  // corners of the bounding box the renderer scans.
  if (u * u + v * v > 1.4641) return false;
  switch (category) {
    case 0:
      return u * u + v * v <= 1;
    case 1:
      return Math.abs(u) <= 0.85 && Math.abs(v) <= 0.85;
    case 2:
      return insidePolygon(TRIANGLE, u, v);
    case 3:
      return insidePolygon(STAR, u, v);
    case 4: {
      const r2 = u * u + v * v;
      return r2 <= 1 && r2 >= 0.36;
    }
    case 5: {
      const au = Math.abs(u);
      const av = Math.abs(v);
      return (au <= 0.32 && av <= 0.95) || (av <= 0.32 && au <= 0.95);
    }
    case 6:
      return u * u + (v * v) / 0.3 <= 1;
    case 7:
      return insidePolygon(HEXAGON, u, v);
    default:
      throw new Error(`unknown category index ${category}`);
  }
}

/** Fraction of the square [-1, 1]² a shape covers, times 4: its area at radius 1 (sampled once). */
export const SHAPE_AREA: readonly number[] = CATEGORIES.map((_, category) => {
  const n = 200;
  let inside = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (insideShape(category, ((i + 0.5) / n) * 2 - 1, ((j + 0.5) / n) * 2 - 1)) inside++;
    }
  }
  return (4 * inside) / (n * n);
});

/** Named colours: referring expressions use these names, so the jitter around each stays small. */
export const COLOURS: readonly { name: string; rgb: [number, number, number] }[] = [
  { name: "red", rgb: [215, 40, 40] },
  { name: "orange", rgb: [245, 140, 25] },
  { name: "yellow", rgb: [240, 220, 40] },
  { name: "green", rgb: [45, 175, 60] },
  { name: "cyan", rgb: [40, 205, 215] },
  { name: "blue", rgb: [40, 75, 225] },
  { name: "purple", rgb: [140, 55, 205] },
  { name: "pink", rgb: [245, 120, 190] },
  { name: "white", rgb: [240, 240, 240] },
];

export const TEXTURES = ["solid", "stripes", "checker", "dots", "gradient"] as const;
export type TextureKind = (typeof TEXTURES)[number];

export interface Texture {
  kind: TextureKind;
  /** Spatial frequency in unit space. */
  frequency: number;
  /** Brightness modulation, ±amplitude (small, so the colour name still holds). */
  amplitude: number;
  /** Direction of stripes / gradient, radians. */
  angle: number;
}

/** Brightness factor of a texture at the unit-space point (u, v). */
export function textureFactor(texture: Texture, u: number, v: number): number {
  const { kind, frequency, amplitude } = texture;
  if (kind === "solid") return 1;
  const c = Math.cos(texture.angle);
  const s = Math.sin(texture.angle);
  const along = u * c + v * s;
  switch (kind) {
    case "stripes":
      return Math.sin(along * frequency) >= 0 ? 1 + amplitude : 1 - amplitude;
    case "checker": {
      const a = Math.floor((u + 2) * frequency * 0.5) + Math.floor((v + 2) * frequency * 0.5);
      return (a & 1) === 0 ? 1 + amplitude : 1 - amplitude;
    }
    case "dots": {
      const fu = (u + 2) * frequency * 0.5;
      const fv = (v + 2) * frequency * 0.5;
      const du = fu - Math.floor(fu) - 0.5;
      const dv = fv - Math.floor(fv) - 0.5;
      return du * du + dv * dv < 0.08 ? 1 - amplitude : 1 + amplitude * 0.3;
    }
    case "gradient":
      return 1 + amplitude * along;
  }
}
