const express = require("express");
const { z } = require("zod");

const router = express.Router();
const Task = z.object({ title: z.string().min(1), done: z.boolean().default(false) });
const tasks = [];

router.get("/", (req, res) => res.json(tasks));

router.post("/", (req, res) => {
  const parsed = Task.safeParse(req.body);
  if (!parsed.success) {
    return res.status(400).json({ error: parsed.error.issues });
  }
  const task = { id: tasks.length + 1, ...parsed.data };
  tasks.push(task);
  return res.status(201).json(task);
});

module.exports = router;
