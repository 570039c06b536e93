import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { BrowserRouter } from "react-router-dom";
import { ApiClient, browserSessionStore, loadConfig } from "./api/client";
import { App } from "./App";
import { AuthProvider } from "./auth/AuthContext";
import "./styles.css";

const config = await loadConfig();
const api = new ApiClient(config.apiUrl, browserSessionStore);

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <AuthProvider api={api} config={config}>
      <BrowserRouter>
        <App />
      </BrowserRouter>
    </AuthProvider>
  </StrictMode>,
);
