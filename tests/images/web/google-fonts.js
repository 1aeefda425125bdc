// The Google Fonts answers next/font/google reads instead of fetching them
// (NEXT_FONT_GOOGLE_MOCKED_RESPONSES, Next 14: next/dist/compiled/@next/font/
// dist/google/fetch-css-from-google-fonts.js). Keys: the exact CSS URL each
// font call of the app makes; values: the CSS. A `src: url(...)` that is an
// absolute path, unquoted, is read from disk (fetch-font-file.js).
// The app's one call: Montserrat({ weight: "600", subsets: ["latin"] }).
module.exports = {
  "https://fonts.googleapis.com/css2?family=Montserrat:wght@600&display=swap": `/* latin */
@font-face {
  font-family: 'Montserrat';
  font-style: normal;
  font-weight: 600;
  font-display: swap;
  src: url(/usr/share/fonts/truetype/montserrat/Montserrat-SemiBold.ttf) format('truetype');
}
`,
};
