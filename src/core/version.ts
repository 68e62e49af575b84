/** vidseg's version (package.json's; a test keeps them equal), written into exported models. */
export const VIDSEG_VERSION = "0.1.0";
