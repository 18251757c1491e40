/**
 * The out-of-domain flag's stated false-alarm rate on held-out in-domain examples: 5%. Its own
 * module so text models use it without loading the image reference's onnxruntime code.
 */
export const DEFAULT_FALSE_ALARM_RATE = 0.05;
