const express = require("express");
const cors = require("cors");
const helmet = require("helmet");
const morgan = require("morgan");
require("dotenv").config();

const tasks = require("./routes/tasks");

const app = express();
app.use(helmet());
app.use(cors());
app.use(morgan("tiny"));
app.use(express.json());

app.get("/health", (req, res) => res.json({ status: "ok" }));
app.use("/tasks", tasks);

const port = Number(process.env.PORT || 3000);
app.listen(port, () => console.log(`qi-sample-app listening on ${port}`));
