// qrcode ships no types; latch uses only its server-side SVG rendering.
declare module 'qrcode' {
  export function toString(text: string, options: { type: 'svg'; errorCorrectionLevel?: 'L' | 'M' | 'Q' | 'H'; margin?: number }): Promise<string>;
}
